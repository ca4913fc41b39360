// Reader for the text fixtures written by tools/make_optim_fixtures.py: "case NAME k=v ..."
// starts a case; every other line is "TAG token token ..." attached to the current case.
// Regenerate the files with: /usr/bin/python3 tools/make_optim_fixtures.py
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft::optim::testing {

struct FixtureCase {
  std::string name;
  std::map<std::string, std::string> fields;
  std::vector<std::vector<std::string>> lines;  // tokens of each following line

  bool has(const std::string& k) const { return fields.count(k) != 0; }
  std::string str(const std::string& k, const std::string& dflt = "") const {
    auto it = fields.find(k);
    return it == fields.end() ? dflt : it->second;
  }
  double num(const std::string& k, double dflt = 0.0) const {
    auto it = fields.find(k);
    return it == fields.end() ? dflt : std::stod(it->second);
  }
};

inline std::string fixture_path(const std::string& file) {
  const char* root = std::getenv("FT_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/tests/fixtures/optim/" + file;
}

inline std::vector<FixtureCase> read_fixture(const std::string& file) {
  const std::string path = fixture_path(file);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open fixture " + path + " (is FT_SOURCE_ROOT set?)");
  std::vector<FixtureCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::vector<std::string> tok;
    for (std::string t; s >> t;) tok.push_back(t);
    if (tok[0] == "version") {
      if (tok.at(1) != "1")
        throw std::runtime_error(path + ": fixture version " + tok[1] + ", expected 1");
    } else if (tok[0] == "case") {
      FixtureCase c;
      c.name = tok.at(1);
      for (std::size_t i = 2; i < tok.size(); ++i) {
        const auto eq = tok[i].find('=');
        c.fields[tok[i].substr(0, eq)] = tok[i].substr(eq + 1);
      }
      cases.push_back(std::move(c));
    } else {
      if (cases.empty()) throw std::runtime_error(path + ": data before the first case");
      cases.back().lines.push_back(std::move(tok));
    }
  }
  return cases;
}

// Values of a "TAG ... N v1 .. vN" line whose count sits at token `count_at`.
inline std::vector<double> values_at(const std::vector<std::string>& tok, std::size_t count_at) {
  const std::size_t n = std::stoul(tok.at(count_at));
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::stod(tok.at(count_at + 1 + i));
  return v;
}

}  // namespace ft::optim::testing
