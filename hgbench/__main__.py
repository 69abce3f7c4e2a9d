from hgbench.cli import main

raise SystemExit(main())
