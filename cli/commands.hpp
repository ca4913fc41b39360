// The subcommands: each add_* registers its options and a callback on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace ft {

void add_commands(CLI::App& app);
void add_schedule(CLI::App& app);
void add_devices(CLI::App& app);  // device.cpp

}  // namespace ft
