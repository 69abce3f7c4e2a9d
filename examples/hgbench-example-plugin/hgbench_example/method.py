"""The example plugin's method: SGD whose learning rate takes a hypergradient step every
``every`` weight steps."""

from __future__ import annotations

from hgbench.api import Method, scalar, setting, sgd, sgd_init, training_gradient


class PeriodicHD(Method):
    """Periodic hypergradient descent on the learning rate — the one-step lr hypergradient of
    Baydin et al., "Online Learning Rate Adaptation with Hypergradient Descent", ICLR 2018,
    taken every ``every`` steps instead of every step. SGD with momentum and weight decay in
    PyTorch's form, at the paired initial values; only the lr is tuned."""

    key = "periodic_hd"
    every: int = setting(10, low=1, doc="weight steps between learning-rate steps")
    beta: float = setting(1e-3, low=0.0, doc="step size of the learning-rate update")

    def init(self, problem, w0, mstate, hyper):
        hypers = {n: scalar(problem, v) for n, v in hyper.as_dict().items()}
        return {"w": w0, "mstate": mstate, "opt": sgd_init(w0), **hypers,
                "hypergrad": {"lr": scalar(problem, 0.0)}}  # fmt: skip

    def step(self, problem, state, t):
        loss, g, mstate = training_gradient(problem, state["w"], state["mstate"], t)
        # d loss_t / d lr of the last update w_t = w_{t-1} - lr * b_t (b_t: the momentum buffer)
        hypergrad = -(g * state["opt"]["momentum_buffer"]).sum()
        lr = state["lr"] - self.beta * hypergrad if t % self.every == 0 else state["lr"]
        w, opt = sgd(state["w"], g, state["opt"], lr, state["weight_decay"], state["momentum"])
        new = {"w": w, "mstate": mstate, "opt": opt, "lr": lr, "hypergrad": {"lr": hypergrad}}
        return {**state, **new}, loss

    def hyperparameters(self, state):
        return {n: state[n] for n in ("lr", "weight_decay", "momentum")}
