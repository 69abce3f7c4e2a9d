"""The results schema, written once: every column of a stored run, record and batch.

``bench`` writes rows with these columns (``hgbench.bench.store``) and ``reports`` reads them;
both import the names from here. Each column is declared with its SQL type and what it means,
so the table below *is* the documentation of a results file. Bump :data:`SCHEMA_VERSION`
whenever a column is added, removed or changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

#: bump when a column is added, removed or changes meaning
SCHEMA_VERSION = 3

#: statuses a run may end with; ``ok`` and ``diverged`` are outcomes that re-running repeats
STATUSES = ("ok", "diverged", "oom", "timeout", "error")
#: statuses of runs that ended without a result; ``--rerun-failed`` retries them
FAILED_STATUSES = ("oom", "timeout", "error")


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # TEXT, INTEGER, REAL or BOOLEAN (stored as INTEGER)
    doc: str


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in specs)


#: Columns of ``load_runs``, in order.
RUNS: tuple[Column, ...] = _cols(
    # identity and configuration
    ("run_id", "TEXT", "sha256 of the run's identity (``config``), 16 hex digits"),
    ("suite", "TEXT", "suite the run came from"),
    ("task", "TEXT", "task key"),
    ("task_config", "TEXT", "JSON: task key, scale and every resolved scale parameter"),
    ("method", "TEXT", "method key"),
    ("method_settings", "TEXT", "JSON: the method's resolved settings (defaults filled in)"),
    ("label", "TEXT", "method key plus its non-default settings, e.g. implicit[variant=wd_lr]"),
    ("seed", "INTEGER", "sweep seed"),
    ("init_index", "INTEGER", "paired init index (the same initial hyperparameters per method)"),
    ("init_source", "TEXT", "'sampled' (paired sampler) or 'explicit' (--init / [[inits]])"),
    ("init_hyper", "TEXT", "JSON: initial natural hyperparameters lr, weight_decay, momentum"),
    ("train_split", "TEXT", "rows the weights trained on: 'train' or 'train+val'"),
    ("batch_id", "TEXT", "id of the batch of paired inits trained together (NULL: alone)"),
    ("batch_size", "INTEGER", "inits trained together in that computation (1: alone)"),
    # outcome
    ("status", "TEXT", "ok, diverged, oom, timeout or error"),
    ("message", "TEXT", "why a run did not end ok"),
    ("budget_steps", "INTEGER", "weight steps asked for"),
    ("steps_done", "INTEGER", "weight steps taken"),
    ("diverged_step", "INTEGER", "0-based step of the first non-finite loss or hyperparameter"),
    # time (seconds; per init when time_is_share)
    ("method_time_s", "REAL", "start-up + steady method time (steps, init, finalize)"),
    (
        "startup_time_s",
        "REAL",
        "method init plus what the first step of each phase took beyond "
        "that phase's steady per-step time (tracing, warm-up; hgbench.bench.clock)",
    ),
    ("startup_steps", "INTEGER", "first steps (one per phase) whose excess is start-up"),
    ("steady_time_s", "REAL", "method time after start-up (the other steps and finalize)"),
    ("step_time_s", "REAL", "steady per-step time: median over timed windows"),
    ("step_time_q25_s", "REAL", "25th percentile of the windows' per-step times"),
    ("step_time_q75_s", "REAL", "75th percentile of the windows' per-step times"),
    ("eval_time_s", "REAL", "evaluation and recording time (outside the method clock)"),
    ("total_time_s", "REAL", "method_time_s + eval_time_s"),
    ("time_is_share", "BOOLEAN", "times are the batch's divided by its size (derived)"),
    # memory (bytes)
    ("peak_memory_bytes", "INTEGER", "the run's own peak (see memory_kind)"),
    (
        "memory_kind",
        "TEXT",
        "cpu_run_rss: peak RSS above the worker's RSS before the task was "
        "built; cuda_run_allocated: max allocated above the allocation at the run's start",
    ),
    ("process_peak_bytes", "INTEGER", "peak of the whole worker process (CPU: includes torch)"),
    ("state_bytes", "INTEGER", "bytes of the method's state tensors (its working set held)"),
    # counted cost (per init)
    ("cost_forward", "INTEGER", "counted forward passes outside gradients and HVPs"),
    ("cost_gradient", "INTEGER", "counted gradients"),
    ("cost_hvp", "INTEGER", "counted Hessian-vector products"),
    ("runs_per_init", "INTEGER", "training runs one init costs (random search: N)"),
    ("counts_exact", "BOOLEAN", "whether the counters see all the work (False: approximate)"),
    # results
    ("metric", "TEXT", "the task's reported metric"),
    ("lower_is_better", "BOOLEAN", "direction of the metric"),
    ("divergence_threshold", "REAL", "final values above this count as diverged (NULL: none)"),
    ("untrained_test_metric", "REAL", "test metric of the initial weights (step 0)"),
    ("final_train_loss", "REAL", "loss on the whole training split at the end"),
    ("final_val_loss", "REAL", "loss on the whole validation split at the end"),
    ("final_test_loss", "REAL", "loss on the whole test split at the end"),
    ("final_test_metric", "REAL", "the metric on the whole test split at the end"),
    ("final_hyper", "TEXT", "JSON: natural hyperparameters at the end"),
    # what the numbers depend on
    ("threads", "INTEGER", "torch intra-op threads of the worker"),
    ("device", "TEXT", "cpu, cuda, ..."),
    ("dtype", "TEXT", "float32, float64, ..."),
    ("data_fingerprint", "TEXT", "sha256 over the data files the task read ('' for none)"),
    ("hgbench_version", "TEXT", "package version"),
    ("git_commit", "TEXT", "commit of the checkout hgbench ran from"),
    ("torch_version", "TEXT", "torch.__version__"),
    ("schema_version", "INTEGER", "this schema's version"),
    ("started_at", "TEXT", "UTC ISO time"),
    ("finished_at", "TEXT", "UTC ISO time"),
)
#: Kept in the table, returned by ``load_runs(path, all_columns=True)``.
RUNS_EXTRA: tuple[Column, ...] = _cols(
    ("data_seed", "INTEGER", "seed of the data order"),
    ("init_seed", "INTEGER", "seed of the initial weights"),
    ("hyper_seed", "INTEGER", "seed of the paired initial hyperparameters"),
    ("config", "TEXT", "JSON of the run's identity (hashed into run_id)"),
    ("traceback", "TEXT", "last frames of the exception of an error run"),
)
RECORDS: tuple[Column, ...] = _cols(
    ("run_id", "TEXT", "the run"),
    ("step", "INTEGER", "weight steps taken when recorded"),
    ("time_s", "REAL", "cumulative method time (start-up included) at that step"),
    ("split", "TEXT", "train, val, test, hyper or phase"),
    ("metric", "TEXT", "loss, the task's metric, a hyperparameter, <phase>_time_s, ..."),
    ("value", "REAL", "the value"),
)
BATCHES: tuple[Column, ...] = _cols(
    ("batch_id", "TEXT", "the batch"),
    ("task", "TEXT", "task key"),
    ("method", "TEXT", "method key"),
    ("label", "TEXT", "method label"),
    ("batch_size", "INTEGER", "inits trained together"),
    ("method_time_s", "REAL", "the batch's method time"),
    ("startup_time_s", "REAL", "the batch's start-up time"),
    ("steady_time_s", "REAL", "the batch's steady method time"),
    ("step_time_s", "REAL", "the batch's steady per-step time"),
    ("total_time_s", "REAL", "method + evaluation time"),
    ("peak_memory_bytes", "INTEGER", "the batch's own peak"),
    ("memory_kind", "TEXT", "as for runs"),
)

RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in RUNS)
EXTRA_RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in RUNS_EXTRA)
RECORD_COLUMNS: tuple[str, ...] = tuple(c.name for c in RECORDS)
BATCH_COLUMNS: tuple[str, ...] = tuple(c.name for c in BATCHES)

#: columns that are floats in ``load_runs`` (NULL read as NaN)
FLOAT_RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in RUNS if c.sql == "REAL")
BOOL_RUN_COLUMNS: tuple[str, ...] = tuple(c.name for c in RUNS if c.sql == "BOOLEAN")


def sql_type(column: Column) -> str:
    return "INTEGER" if column.sql == "BOOLEAN" else column.sql
