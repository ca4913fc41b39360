#!/usr/bin/python3
"""Writes the PyTorch reference values that tests/kernels/optim compares against.

Run under Debian's python3-torch (1.13):  /usr/bin/python3 tools/make_optim_fixtures.py
Outputs (text, one record per line, floats in Python's round-trip repr):
  tests/fixtures/optim/schedules.txt  lr (and momentum) of every torch.optim.lr_scheduler case
  tests/fixtures/optim/sgd.txt        torch.optim.SGD trajectories (groups, nesterov, clipping)
"""
import math
import os
import sys

import torch

VERSION = 1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim")
S = torch.optim.lr_scheduler


def fmt(values):
    return " ".join(repr(float(v)) for v in values)


def fmt32(values):
    # float32 values: 9 significant digits round-trip exactly and keep the file small.
    return " ".join("%.9g" % v for v in values)


# ---------------------------------------------------------------- schedules
# Each case: spec fields (named as ScheduleSpec's members), base lr/momentum, total steps.
# A warmup is built the way flowtrain defines it: the main scheduler first (so 'initial_lr' is
# the main schedule's step-0 lr), then LinearLR(start_factor, 1.0, total_iters=W), chained by
# SequentialLR(milestones=[W]).
SCHEDULE_CASES = [
    ("constant", dict(kind="constant"), 10),
    ("step", dict(kind="step", step_size=3, gamma=0.5), 12),
    ("step_default_gamma", dict(kind="step", step_size=4), 13),
    ("multistep", dict(kind="multistep", milestones=[2, 5, 9], gamma=0.1), 12),
    ("exponential", dict(kind="exponential", gamma=0.9), 12),
    ("cosine", dict(kind="cosine", t_max=10, eta_min=0.001), 25),
    ("cosine_default_tmax", dict(kind="cosine"), 20),
    ("cosine_restarts", dict(kind="cosine_restarts", t_0=5, t_mult=1, eta_min=0.01), 23),
    ("cosine_restarts_mult2", dict(kind="cosine_restarts", t_0=3, t_mult=2), 30),
    ("cyclic_triangular", dict(kind="cyclic", base_lr=0.01, max_lr=0.1, step_size_up=4), 30),
    ("cyclic_triangular2", dict(kind="cyclic", base_lr=0.01, max_lr=0.1, step_size_up=3,
                                step_size_down=5, mode="triangular2"), 40),
    ("cyclic_exp_range", dict(kind="cyclic", base_lr=0.001, max_lr=0.1, step_size_up=4,
                              mode="exp_range", gamma=0.97), 30),
    ("cyclic_no_momentum", dict(kind="cyclic", max_lr=0.5, step_size_up=2, cycle_momentum=0), 12),
    ("cyclic_momentum_range", dict(kind="cyclic", base_lr=0.02, max_lr=0.2, step_size_up=3,
                                   base_momentum=0.7, max_momentum=0.95), 15),
    ("onecycle", dict(kind="onecycle", max_lr=0.1), 20),
    ("onecycle_linear", dict(kind="onecycle", max_lr=0.2, anneal="linear", pct_start=0.25), 40),
    ("onecycle_three_phase", dict(kind="onecycle", max_lr=0.1, three_phase=1, div_factor=10,
                                  final_div_factor=100), 30),
    ("onecycle_total_and_past", dict(kind="onecycle", max_lr=0.1, onecycle_total_steps=15), 16),
    ("warmup_constant", dict(kind="constant", warmup_steps=4, warmup_start_factor=0.25), 10),
    ("warmup_cosine", dict(kind="cosine", warmup_steps=5, warmup_start_factor=0.1), 30),
    ("warmup_cosine_eta", dict(kind="cosine", t_max=8, eta_min=0.005, warmup_steps=3,
                               warmup_start_factor=0.01), 20),
    ("warmup_step", dict(kind="step", step_size=3, gamma=0.5, warmup_steps=2,
                         warmup_start_factor=0.5), 14),
    ("warmup_multistep", dict(kind="multistep", milestones=[3, 6], gamma=0.2, warmup_steps=4,
                              warmup_start_factor=0.1), 14),
    ("warmup_exponential", dict(kind="exponential", gamma=0.8, warmup_steps=3), 12),
    ("warmup_restarts", dict(kind="cosine_restarts", t_0=4, t_mult=2, eta_min=0.001,
                             warmup_steps=2, warmup_start_factor=0.2), 20),
    ("warmup_cyclic", dict(kind="cyclic", base_lr=0.01, max_lr=0.1, step_size_up=3,
                           warmup_steps=4, warmup_start_factor=0.1), 20),
    ("warmup_onecycle", dict(kind="onecycle", max_lr=0.3, warmup_steps=5,
                             warmup_start_factor=0.2), 30),
]


def build_main(opt, spec, total):
    k = spec["kind"]
    w = spec.get("warmup_steps", 0)
    if k == "constant":
        return S.LambdaLR(opt, lambda e: 1.0) if w else None
    if k == "step":
        return S.StepLR(opt, spec["step_size"], gamma=spec.get("gamma", 0.1))
    if k == "multistep":
        return S.MultiStepLR(opt, spec["milestones"], gamma=spec.get("gamma", 0.1))
    if k == "exponential":
        return S.ExponentialLR(opt, spec["gamma"])
    if k == "cosine":
        return S.CosineAnnealingLR(opt, spec.get("t_max") or total - w, eta_min=spec.get("eta_min", 0.0))
    if k == "cosine_restarts":
        return S.CosineAnnealingWarmRestarts(opt, spec["t_0"], T_mult=spec.get("t_mult", 1),
                                             eta_min=spec.get("eta_min", 0.0))
    if k == "cyclic":
        return S.CyclicLR(opt, base_lr=spec.get("base_lr", opt.param_groups[0]["lr"]),
                          max_lr=spec["max_lr"], step_size_up=spec["step_size_up"],
                          step_size_down=spec.get("step_size_down"), mode=spec.get("mode", "triangular"),
                          gamma=spec.get("gamma", 1.0), cycle_momentum=bool(spec.get("cycle_momentum", 1)),
                          base_momentum=spec.get("base_momentum", 0.8),
                          max_momentum=spec.get("max_momentum", 0.9))
    if k == "onecycle":
        return S.OneCycleLR(opt, max_lr=spec["max_lr"],
                            total_steps=spec.get("onecycle_total_steps") or total - w,
                            pct_start=spec.get("pct_start", 0.3), anneal_strategy=spec.get("anneal", "cos"),
                            cycle_momentum=bool(spec.get("cycle_momentum", 1)),
                            base_momentum=spec.get("base_momentum", 0.85),
                            max_momentum=spec.get("max_momentum", 0.95),
                            div_factor=spec.get("div_factor", 25.0),
                            final_div_factor=spec.get("final_div_factor", 1e4),
                            three_phase=bool(spec.get("three_phase", 0)))
    raise ValueError(k)


def schedule_values(spec, base_lr, base_momentum, total):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr, momentum=base_momentum)
    main = build_main(opt, spec, total)
    w = spec.get("warmup_steps", 0)
    sched = main
    if w:
        warm = S.LinearLR(opt, start_factor=spec.get("warmup_start_factor", 1.0 / 3.0),
                          end_factor=1.0, total_iters=w)
        sched = S.SequentialLR(opt, [warm, main], milestones=[w])
    lrs, moms = [], []
    for t in range(total):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["momentum"])
        opt.step()
        # No step after the last record: OneCycleLR raises past its total_steps.
        if sched is not None and t < total - 1:
            sched.step()
    return lrs, moms


def write_schedules():
    base_lr, base_momentum = 0.1, 0.9
    lines = [f"# torch {torch.__version__}: tools/make_optim_fixtures.py", f"version {VERSION}"]
    for name, spec, total in SCHEDULE_CASES:
        lrs, moms = schedule_values(spec, base_lr, base_momentum, total)
        fields = " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in spec.items())
        lines.append(f"case {name} opt_lr={base_lr} opt_momentum={base_momentum} total_steps={total} {fields}")
        lines.append(f"lr {len(lrs)} {fmt(lrs)}")
        cycles = spec["kind"] in ("cyclic", "onecycle") and spec.get("cycle_momentum", 1)
        lines.append(f"momentum {len(moms) if cycles else 0} {fmt(moms) if cycles else ''}".rstrip())
    with open(os.path.join(OUT, "schedules.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- SGD
PARAMS = [  # name, role, shape (roles as kernels/nn/parameter.hpp's ParamRole)
    ("conv.weight", "weight", (4, 3, 3, 3)),
    ("conv.bias", "bias", (4,)),
    ("bn.weight", "norm", (4,)),
    ("bn.bias", "norm", (4,)),
    ("fc.weight", "weight", (5, 7)),
    ("fc.bias", "bias", (5,)),
]

SGD_CASES = [
    # name, options, per-step (lr, momentum) -- momentum changes mimic cyclic/onecycle
    ("plain", dict(lr=0.1), None),
    ("momentum_wd", dict(lr=0.05, momentum=0.9, weight_decay=5e-4), None),
    ("nesterov_groups", dict(lr=0.1, momentum=0.9, nesterov=1, weight_decay=1e-2,
                             no_decay_bias=1, no_decay_norm=1), None),
    ("dampening_norm_group", dict(lr=0.03, momentum=0.8, dampening=0.3, weight_decay=1e-3,
                                  no_decay_norm=1), None),
    ("bias_group_only", dict(lr=0.07, momentum=0.5, weight_decay=0.05, no_decay_bias=1), None),
    ("clipping", dict(lr=0.1, momentum=0.9, nesterov=1, weight_decay=5e-4, no_decay_bias=1,
                      no_decay_norm=1, max_grad_norm=0.5), None),
    ("scheduled", dict(lr=0.1, momentum=0.9, weight_decay=1e-4),
     [(0.02, 0.95), (0.05, 0.93), (0.1, 0.9), (0.07, 0.88), (0.01, 0.85)]),
]
SGD_STEPS = 5


def write_sgd():
    gen = torch.Generator().manual_seed(1234)
    lines = [f"# torch {torch.__version__}: tools/make_optim_fixtures.py", f"version {VERSION}"]
    for name, opts, sched in SGD_CASES:
        params = [torch.nn.Parameter(torch.randn(*shape, generator=gen)) for _, _, shape in PARAMS]
        nd = {"bias": opts.get("no_decay_bias", 0), "norm": opts.get("no_decay_norm", 0)}
        decay = [p for p, (_, role, _) in zip(params, PARAMS) if not nd.get(role, 0)]
        no_decay = [p for p, (_, role, _) in zip(params, PARAMS) if nd.get(role, 0)]
        groups = [{"params": decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        opt = torch.optim.SGD(groups, lr=opts["lr"], momentum=opts.get("momentum", 0.0),
                              dampening=opts.get("dampening", 0.0), nesterov=bool(opts.get("nesterov", 0)),
                              weight_decay=opts.get("weight_decay", 0.0))
        fields = " ".join(f"{k}={v}" for k, v in opts.items())
        lines.append(f"case {name} steps={SGD_STEPS} {fields}")
        for (pname, role, shape), p in zip(PARAMS, params):
            lines.append(f"param {pname} {role} {len(shape)} {' '.join(map(str, shape))}")
            lines.append(f"init {pname} {p.numel()} {fmt32(p.detach().flatten().tolist())}")
        for step in range(SGD_STEPS):
            if sched:
                for g in opt.param_groups:
                    g["lr"], g["momentum"] = sched[step]
                lines.append(f"hyper {step} {sched[step][0]!r} {sched[step][1]!r}")
            # Scales vary so that clipping is active on some steps and not on others.
            scale = [3.0, 0.05, 1.0, 0.02, 2.0][step]
            for (pname, _, _), p in zip(PARAMS, params):
                p.grad = torch.randn(p.shape, generator=gen) * scale
                lines.append(f"grad {step} {pname} {p.numel()} {fmt32(p.grad.flatten().tolist())}")
            if opts.get("max_grad_norm"):
                norm = torch.nn.utils.clip_grad_norm_(params, opts["max_grad_norm"])
                lines.append(f"norm {step} {float(norm)!r}")
            opt.step()
            for (pname, _, _), p in zip(PARAMS, params):
                lines.append(f"after {step} {pname} {p.numel()} {fmt32(p.detach().flatten().tolist())}")
        for (pname, _, _), p in zip(PARAMS, params):
            buf = opt.state[p].get("momentum_buffer")
            if buf is not None:
                lines.append(f"buffer {pname} {buf.numel()} {fmt32(buf.flatten().tolist())}")
    with open(os.path.join(OUT, "sgd.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    write_schedules()
    write_sgd()
    for n in ("schedules.txt", "sgd.txt"):
        print(n, os.path.getsize(os.path.join(OUT, n)), "bytes", file=sys.stderr)
