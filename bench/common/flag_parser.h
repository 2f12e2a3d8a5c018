// FlagParser: the command line of a benchmark program, "--flag value" pairs. Each flag is bound to a variable (which
// holds its default) and a check; an unknown flag, a flag without a value or a value that fails its check ends the
// program with "PROGRAM: ..." on stderr and exit status 1 (a benchmark has no caller to return an error to).
// Header-only: each benchmark is one translation unit.
//
//   FlagParser("oa_x_bench").Int("--rounds", &a.rounds, 1).Double("--rate", &a.rate, kPositive).Parse(argc, argv);
#pragma once

#include <unistd.h>

#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/common/bench_figures.h"

namespace oa::bench {

class FlagParser {
 public:
  // For Double: the value must be above 0.
  static constexpr double kPositive = 0.0;
  static constexpr double kAny = -std::numeric_limits<double>::infinity();

  explicit FlagParser(const char* program) : program_(program) {}

  // An integer, at least `min`.
  FlagParser& Int(std::string flag, int* out, int min = std::numeric_limits<int>::min()) {
    return Add(std::move(flag), [out, min](const std::string& v) { return absl::SimpleAtoi(v, out) && *out >= min; });
  }
  // A number, above `above` (kAny: any number).
  FlagParser& Double(std::string flag, double* out, double above = kAny) {
    return Add(std::move(flag), [out, above](const std::string& v) {
      return absl::SimpleAtod(v, out) && (above == kAny || *out > above);
    });
  }
  // Integers separated by commas ("0,20"), replacing the default list.
  FlagParser& IntList(std::string flag, std::vector<int>* out) {
    return Add(std::move(flag), [out](const std::string& v) {
      out->clear();
      bool ok = true;
      for (auto part : absl::StrSplit(v, ',')) {
        int n = 0;
        ok = ok && absl::SimpleAtoi(part, &n);
        out->push_back(n);
      }
      return ok;
    });
  }
  // "true" or "false".
  FlagParser& Bool(std::string flag, bool* out) {
    return Add(std::move(flag), [out](const std::string& v) {
      *out = v == "true";
      return v == "true" || v == "false";
    });
  }
  // Any text.
  FlagParser& Text(std::string flag, std::string* out) {
    return Add(std::move(flag), [out](const std::string& v) {
      *out = v;
      return true;
    });
  }

  // A path to a file this process may execute.
  FlagParser& Executable(std::string flag, std::string* out) {
    return Add(std::move(flag), [out](const std::string& v) {
      *out = v;
      return ::access(v.c_str(), X_OK) == 0;
    });
  }

  void Parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      if (i + 1 >= argc) Die(program_, "missing value for " + flag);
      const std::string v = argv[++i];
      const Flag* known = nullptr;
      for (const Flag& f : flags_) {
        if (f.name == flag) known = &f;
      }
      if (known == nullptr) Die(program_, "unknown flag " + flag);
      if (!known->set(v)) Die(program_, "bad value for " + flag + ": " + v);
    }
  }

 private:
  struct Flag {
    std::string name;
    std::function<bool(const std::string&)> set;  // false: the value is bad
  };

  FlagParser& Add(std::string flag, std::function<bool(const std::string&)> set) {
    flags_.push_back(Flag{std::move(flag), std::move(set)});
    return *this;
  }

  const char* program_;
  std::vector<Flag> flags_;
};

}  // namespace oa::bench
