// A small config over a `flowtrain synth` dataset (data/bhw1, 4 classes, 64x64 resized to 32),
// for end-to-end tests of the commands around runs (export, chains, report).
#pragma once

#include <string>

namespace ft::testing {

// [run] name NAME, the given model table body and epochs; val is a 25% holdout, test the
// synthetic test split with its labels (so test top-1 is known).
inline std::string synth_config(const std::string& name, const std::string& model, int epochs = 1,
                                const std::string& extra = "") {
  return "[run]\nname = \"" + name + "\"\nepochs = " + std::to_string(epochs) +
         "\nthreads = 2\n\n"
         "[data]\n"
         "train = { format = \"csv\", images = \"data/bhw1/trainval\", labels = "
         "\"data/bhw1/labels.csv\" }\n"
         "val   = { from = \"train\", fraction = 0.25 }\n"
         "test  = { format = \"csv\", images = \"data/bhw1/test\", labels = "
         "\"data/bhw1/test_labels.csv\" }\n\n"
         "[model]\nnum_classes = 4\n" +
         model + "\n\n[optimizer]\nlr = 0.05\nmomentum = 0.9\n\n" + extra +
         R"(
[[stage]]
id = "read"
kind = "read_files"
batch_size = 16

[[stage]]
id = "decode"
kind = "decode_jpeg"
after = "read"

[[stage]]
id = "augment"
kind = "augment"
after = "decode"
ops = [ { op = "resize", size = 32 }, { op = "hflip", p = 0.5 },
        { op = "normalize", mean = [0.5], std = [0.25] } ]

[[stage]]
id = "batch"
kind = "batch"
after = "augment"

[[stage]]
id = "train"
kind = "train_step"
after = "batch"

[[stage]]
id = "eval"
kind = "eval_step"
after = "train"

[[stage]]
id = "metrics"
kind = "metrics"
after = "eval"

[[stage]]
id = "checkpoint"
kind = "checkpoint"
after = "metrics"
)";
}

}  // namespace ft::testing
