// [optimizer], [schedule] and [model] through their one schema: the readers give kernels/optim's
// and nn's plain structs, every key's range, type and choices are refused with file:line:col and
// the key, cross-key checks, the schema's defaults equal the structs' defaults, every key has a
// doc, and every choices list is exactly what the implementation parses.
#include "stages/train/optim_config.hpp"

#include <doctest/doctest.h>

#include <string>

#include "kernels/nn/model.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "pipeline/graph.hpp"
#include "stages/register_all.hpp"
#include "stages/train/model_config.hpp"

namespace ft {

namespace {

// `text` as a config file t.toml (a stage appended, since a config needs one).
Config config(const std::string& text) {
  return parse_config(text + "\n[[stage]]\nid = \"read\"\nkind = \"read_files\"\n", "t.toml");
}

// The message validation gives for `text` ("" when it passes).
std::string refused(const std::string& text) {
  try {
    validate_sections(config(text), builtin_registry());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("[optimizer] reads into SgdOptions; integers are numbers; batchnorm is norm") {
  const Config c = config(
      "[optimizer]\nkind = \"sgd\"\nlr = 1\nmomentum = 0.9\nnesterov = true\nweight_decay = 5e-4\n"
      "no_decay = [\"bias\", \"batchnorm\"]\nmax_grad_norm = 2.0\n");
  validate_sections(c, builtin_registry());
  const optim::SgdOptions o = read_optim_config(c.root, c.file).sgd;
  CHECK(o.lr == 1.0);
  CHECK(o.momentum == 0.9);
  CHECK(o.nesterov);
  CHECK(o.weight_decay == 5e-4);
  CHECK(o.no_decay_bias);
  CHECK(o.no_decay_norm);
  CHECK(o.max_grad_norm == 2.0);
}

TEST_CASE("[schedule] reads into ScheduleSpec") {
  const Config c = config(
      "[optimizer]\nlr = 0.1\n[schedule]\nkind = \"cyclic\"\nmode = \"exp_range\"\nmax_lr = 0.5\n"
      "step_size_up = 10\ngamma = 0.99\nper = \"epoch\"\nwarmup_epochs = 2\nwarmup_steps = 3\n"
      "warmup_start_factor = 0.5\n");
  validate_sections(c, builtin_registry());
  const OptimConfig o = read_optim_config(c.root, c.file);
  CHECK(o.schedule.kind == optim::ScheduleKind::cyclic);
  CHECK(o.schedule.mode == optim::CyclicMode::exp_range);
  CHECK(*o.schedule.max_lr == 0.5);
  CHECK(o.schedule.step_size_up == 10.0);
  CHECK(*o.schedule.gamma == 0.99);
  CHECK_FALSE(o.per_step);
  CHECK(o.warmup_epochs == 2.0);
  CHECK(o.schedule.warmup_steps == 3);
  CHECK(o.schedule.warmup_start_factor == 0.5);
  const Config m =
      config("[schedule]\nkind = \"onecycle\"\nanneal_strategy = \"linear\"\ntotal_steps = 9\n");
  validate_sections(m, builtin_registry());
  CHECK(read_optim_config(m.root, m.file).schedule.anneal == optim::Anneal::linear);
  CHECK(read_optim_config(m.root, m.file).schedule.onecycle_total_steps == 9);
}

TEST_CASE("the schemas' defaults are the structs' defaults (an absent table changes nothing)") {
  const toml::table none;
  const OptimConfig o = read_optim_config(none, "t.toml");
  const optim::SgdOptions sgd;
  CHECK(o.sgd.lr == sgd.lr);
  CHECK(o.sgd.momentum == sgd.momentum);
  CHECK(o.sgd.dampening == sgd.dampening);
  CHECK(o.sgd.nesterov == sgd.nesterov);
  CHECK(o.sgd.weight_decay == sgd.weight_decay);
  CHECK(o.sgd.no_decay_bias == sgd.no_decay_bias);
  CHECK(o.sgd.no_decay_norm == sgd.no_decay_norm);
  CHECK(o.sgd.max_grad_norm == sgd.max_grad_norm);
  const optim::ScheduleSpec s;
  CHECK(o.schedule.kind == s.kind);
  CHECK(o.schedule.eta_min == s.eta_min);
  CHECK(o.schedule.t_mult == s.t_mult);
  CHECK(o.schedule.step_size_up == s.step_size_up);
  CHECK(o.schedule.mode == s.mode);
  CHECK(o.schedule.cycle_momentum == s.cycle_momentum);
  CHECK(o.schedule.pct_start == s.pct_start);
  CHECK(o.schedule.anneal == s.anneal);
  CHECK(o.schedule.div_factor == s.div_factor);
  CHECK(o.schedule.final_div_factor == s.final_div_factor);
  CHECK(o.schedule.three_phase == s.three_phase);
  CHECK(o.schedule.warmup_steps == s.warmup_steps);
  CHECK(o.schedule.warmup_start_factor == s.warmup_start_factor);
  CHECK(o.per_step);
  const nn::ModelSpec m = read_model_spec(model_params(none, "t.toml"));
  const nn::ModelSpec d;
  CHECK(m.kind == d.kind);
  CHECK(m.num_classes == d.num_classes);
  CHECK(m.blocks == d.blocks);
  CHECK(m.base_width == d.base_width);
  CHECK(m.dropout == d.dropout);
  CHECK(m.zero_init_residual == d.zero_init_residual);
  CHECK(m.widths == d.widths);
  CHECK(m.stage_blocks == d.stage_blocks);
}

TEST_CASE("types, choices, unknown keys and ranges are refused naming file:line:col and the key") {
  CHECK(refused("[optimizer]\nnesterov = 1.0\n") ==
        "t.toml:2:12: [optimizer] key 'nesterov': expected a boolean");
  CHECK(refused("[optimizer]\nkind = \"adam\"\n") ==
        "t.toml:2:8: [optimizer] key 'kind': 'adam' is not one of: sgd");
  CHECK(refused("[optimizer]\nno_decay = [\"weights\"]\n")
            .find("[optimizer] key 'no_decay': 'weights' is not one of: bias, norm, batchnorm") !=
        std::string::npos);
  CHECK(
      refused("[optimizer]\nlrr = 0.1\n")
          .find("t.toml:2:7: [optimizer] key 'lrr': unknown key (did you mean 'lr'?); known keys: "
                "kind, lr, momentum") != std::string::npos);
  CHECK(refused("[schedule]\nT_max = 2.5\nkind = \"cosine\"\n") ==
        "t.toml:2:9: [schedule] key 'T_max': expected a integer");
  CHECK(refused("[schedule]\nkind = \"cyclic\"\nmax_lr = 1.0\nmode = \"square\"\n")
            .find("'square' is not one of: triangular, triangular2, exp_range") !=
        std::string::npos);
  CHECK(refused("[schedule]\nkind = \"cosine\"\ntmax = 3\n").find("unknown key") !=
        std::string::npos);
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"[optimizer]\nlr = nan\n", "[optimizer] key 'lr': nan is not a finite number"},
      {"[optimizer]\nlr = inf\n", "inf is not a finite number"},
      {"[optimizer]\nmomentum = -0.5\n",
       "[optimizer] key 'momentum': -0.5 is out of range: expected >= 0"},
      {"[optimizer]\ndampening = inf\n", "[optimizer] key 'dampening': inf is not a finite number"},
      {"[optimizer]\nmax_grad_norm = inf\n", "[optimizer] key 'max_grad_norm'"},
      {"[schedule]\nkind = \"onecycle\"\ndiv_factor = 0.0\n",
       "[schedule] key 'div_factor': 0 is out of range: expected > 0"},
      {"[schedule]\nkind = \"onecycle\"\nfinal_div_factor = 0\n",
       "[schedule] key 'final_div_factor': 0 is out of range: expected > 0"},
      {"[schedule]\nkind = \"step\"\nstep_size = 2\ngamma = inf\n",
       "[schedule] key 'gamma': inf is not a finite number; expected > 0"},
      {"[schedule]\nkind = \"step\"\nstep_size = 2\ngamma = 0.0\n",
       "[schedule] key 'gamma': 0 is out of range: expected > 0"},
      {"[schedule]\nkind = \"step\"\nstep_size = 0\n",
       "[schedule] key 'step_size': 0 is out of range: expected >= 1"},
      {"[schedule]\nkind = \"cosine_restarts\"\nT_0 = 0\n",
       "[schedule] key 'T_0': 0 is out of range"},
      {"[schedule]\nkind = \"cosine_restarts\"\nT_0 = 2\nT_mult = 0\n",
       "[schedule] key 'T_mult': 0 is out of range: expected >= 1"},
      {"[schedule]\nkind = \"cosine\"\nT_max = 0\n", "[schedule] key 'T_max': 0 is out of range"},
      {"[schedule]\nkind = \"onecycle\"\ntotal_steps = 0\n", "[schedule] key 'total_steps'"},
      {"[schedule]\nkind = \"cosine\"\neta_min = nan\n", "[schedule] key 'eta_min': nan"},
      {"[schedule]\nkind = \"cyclic\"\nmax_lr = inf\n", "[schedule] key 'max_lr': inf"},
      {"[schedule]\nkind = \"cyclic\"\nmax_lr = 1.0\nstep_size_up = 0\n",
       "[schedule] key 'step_size_up': 0 is out of range: expected >= 1"},
      {"[schedule]\nkind = \"onecycle\"\npct_start = 1.5\n",
       "[schedule] key 'pct_start': 1.5 is out of range: expected in [0, 1]"},
      {"[schedule]\nkind = \"onecycle\"\npct_start = nan\n", "[schedule] key 'pct_start': nan"},
      {"[schedule]\nkind = \"multistep\"\nmilestones = [-1, 3]\n",
       "[schedule] key 'milestones': -1 is out of range: expected >= 0"},
      {"[schedule]\nwarmup_start_factor = 0.0\n",
       "[schedule] key 'warmup_start_factor': 0 is out of range: expected in (0, 1]"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const std::string e = refused(c.text);
    CHECK_MESSAGE(e.rfind("t.toml:", 0) == 0, e);
    CHECK_MESSAGE(e.find(c.message) != std::string::npos, e);
  }
}

TEST_CASE("cross-key checks name the key: nesterov, milestones, kind-only keys, required keys") {
  CHECK(
      refused("[optimizer]\nnesterov = true\n")
          .find("t.toml:2:12: [optimizer] key 'nesterov': Nesterov momentum needs momentum > 0 and "
                "dampening = 0") == 0);
  CHECK(refused("[optimizer]\nnesterov = true\nmomentum = 0.9\ndampening = 0.1\n")
            .find("key 'nesterov'") != std::string::npos);
  CHECK(refused("[optimizer]\nnesterov = true\nmomentum = 0.9\n").empty());
  CHECK(refused("[schedule]\nkind = \"multistep\"\nmilestones = [5, 3]\n") ==
        "t.toml:3:14: [schedule] key 'milestones': must be strictly increasing; 3 follows 5");
  CHECK(refused("[schedule]\nkind = \"multistep\"\nmilestones = [3, 3]\n").find("strictly") !=
        std::string::npos);
  CHECK(refused("[schedule]\nkind = \"multistep\"\nmilestones = [3, 5]\n").empty());
  CHECK(refused("[schedule]\nkind = \"cosine\"\ngamma = 0.5\n") ==
        "t.toml:3:9: [schedule] key 'gamma': only for kind step, multistep, exponential, cyclic, "
        "and kind is \"cosine\"; remove it or change kind");
  // A key for a kind that is not the default kind is refused without `kind`.
  CHECK(refused("[schedule]\nT_0 = 3\n").find("kind is \"constant\"") != std::string::npos);
  CHECK(refused("[schedule]\nkind = \"step\"\n").find("kind = \"step\" needs 'step_size'") !=
        std::string::npos);
  CHECK(refused("[schedule]\nkind = \"exponential\"\n").find("needs 'gamma'") != std::string::npos);
  CHECK(refused("[schedule]\nkind = \"cosine_restarts\"\n").find("needs 'T_0'") !=
        std::string::npos);
  CHECK(refused("[schedule]\nkind = \"cyclic\"\n").find("needs 'max_lr'") != std::string::npos);
  CHECK(
      refused("[model]\nwidths = [8, 16]\n") ==
      "t.toml:1:1: [model] key 'stage_blocks': 3 entries, but widths has 2; resnet_small needs one "
      "stage_blocks entry per width");
  CHECK(refused("[model]\nwidths = []\nstage_blocks = []\n").find("at least one stage") !=
        std::string::npos);
  CHECK(refused("[model]\nwidths = [8, 16]\nstage_blocks = [1, 2]\n").empty());
}

TEST_CASE(
    "every key of every table and stage has a doc; choices are what the implementation parses") {
  const Registry& r = builtin_registry();
  const auto all_documented = [](const std::vector<ParamSpec>& specs, const std::string& owner) {
    for (const auto& s : specs) {
      CAPTURE(owner);
      CAPTURE(s.name);
      CHECK_FALSE(s.doc.empty());
      for (const auto& f : s.fields) {
        CAPTURE(f.name);
        CHECK_FALSE(f.doc.empty());
      }
    }
  };
  for (const auto& [name, sec] : r.sections()) {
    CHECK_FALSE(sec.doc.empty());
    all_documented(sec.params, name);
  }
  for (const auto& [name, kind] : r.kinds()) {
    CHECK_FALSE(kind.doc.empty());
    all_documented(kind.params, name);
  }

  const auto choices = [&](const char* section, const char* key) {
    for (const auto& p : r.find_section(section)->params)
      if (p.name == key) return p.choices;
    FAIL("no key " << key);
    return std::vector<std::string>{};
  };
  // Each schedule kind builds a schedule (with the keys it requires); any other name is refused
  // by the kernel's own parser.
  CHECK(choices("schedule", "kind") == optim::schedule_kind_names());
  for (const std::string& kind : choices("schedule", "kind")) {
    CAPTURE(kind);
    optim::ScheduleSpec spec;
    spec.kind = optim::parse_schedule_kind(kind);
    spec.step_size = 2;
    spec.milestones = {2};
    spec.gamma = 0.5;
    spec.t_0 = 2;
    spec.max_lr = 0.2;
    CHECK_NOTHROW((void)optim::make_schedule(spec, 0.1, 0.9, 10));
  }
  CHECK_THROWS_AS((void)optim::parse_schedule_kind("cosin"), std::invalid_argument);
  for (const std::string& m : choices("schedule", "mode"))
    CHECK_NOTHROW((void)optim::parse_cyclic_mode(m));
  CHECK_THROWS_AS((void)optim::parse_cyclic_mode("square"), std::invalid_argument);
  for (const std::string& a : choices("schedule", "anneal_strategy"))
    CHECK_NOTHROW((void)optim::parse_anneal(a));
  CHECK_THROWS_AS((void)optim::parse_anneal("cosine"), std::invalid_argument);
  // Each model kind builds (on a tiny input); another name is refused by make_model.
  for (const std::string& kind : choices("model", "kind")) {
    CAPTURE(kind);
    nn::ModelSpec spec;
    spec.kind = kind;
    spec.height = spec.width = 32;
    CHECK_NOTHROW((void)nn::make_model(spec, nn::cpu_layers(true)));
  }
  nn::ModelSpec unknown;
  unknown.kind = "resnet19";
  CHECK_THROWS_AS((void)nn::make_model(unknown, nn::cpu_layers(true)), std::invalid_argument);
  // no_decay's roles: each is read; SgdOptions' flags cover exactly them.
  for (const std::string& role : choices("optimizer", "no_decay")) {
    CAPTURE(role);
    const Config c = config("[optimizer]\nno_decay = [\"" + role + "\"]\n");
    const optim::SgdOptions o = read_optim_config(c.root, c.file).sgd;
    CHECK((o.no_decay_bias || o.no_decay_norm));
  }
}

}  // namespace ft
