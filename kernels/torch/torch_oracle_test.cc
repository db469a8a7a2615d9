// Checks kernels/torch/cpu_generator against a live PyTorch (Debian's python3-torch), bit for
// bit, on seeds and shapes drawn at test time.
//
// The draw is replayable: the test prints TWINSIM_ORACLE_SEED=<n>; set that variable (e.g.
// `bazel test --test_env=TWINSIM_ORACLE_SEED=<n> //kernels/torch:torch_oracle_test`) to
// rerun the same cases. PyTorch runs twice, once under ATEN_CPU_CAPABILITY=default and once
// with the machine's own capability (AVX2 on current x86-64); see
// Note [ATen CPU capability and the bits it produces] in cpu_generator.h.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/testing/python_oracle.h"
#include "kernels/torch/cpu_generator.h"

namespace twinsim::kernels::torch {
namespace {

using core::testing_support::kOraclePython;
using core::testing_support::RunCommand;
using core::testing_support::RunfilePath;
using core::testing_support::TorchOracleUnavailableReason;

constexpr char kScript[] = "kernels/torch/testdata/torch_oracle.py";

std::string Hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

enum class Op { kRand, kUniform, kNormal, kLinear };

// One call into PyTorch, and how to compute it with the model.
struct Request {
  int id = 0;
  Op op = Op::kRand;
  uint64_t seed = 0;
  int64_t numel = 0;        // rand, uniform, normal
  double a = 0, b = 0;      // from/to or mean/std
  int64_t out = 0, in = 0;  // linear
  bool bias = true;

  std::string Line() const {
    std::ostringstream s;
    s << id << " ";
    switch (op) {
      case Op::kRand:
        s << "rand " << seed << " " << numel;
        break;
      case Op::kUniform:
        s << "uniform " << seed << " " << numel << " " << Hex(a) << " " << Hex(b);
        break;
      case Op::kNormal:
        s << "normal " << seed << " " << numel << " " << Hex(a) << " " << Hex(b);
        break;
      case Op::kLinear:
        s << "linear " << seed << " " << out << " " << in << " " << (bias ? 1 : 0);
        break;
    }
    return s.str();
  }
};

// What one PyTorch run printed.
struct OracleRun {
  std::string capability;
  std::string version;
  std::map<std::pair<int, std::string>, std::vector<float>> tensors;  // (id, name) -> values
  std::string error;
};

// Runs the helper script on `requests` and parses its output. `env` prefixes the command.
OracleRun RunOracle(const std::vector<Request>& requests, const std::string& env) {
  OracleRun run;
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(tmpdir ? tmpdir : "/tmp") + "/torch_oracle_XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd < 0) {
    run.error = "mkstemp failed for " + path;
    return run;
  }
  close(fd);
  {
    std::ofstream f(path);
    for (const Request& r : requests) f << r.Line() << "\n";
  }
  const std::string cmd =
      env + " " + kOraclePython + " '" + RunfilePath(kScript) + "' '" + path + "'";
  int status = 0;
  const std::string text = RunCommand(cmd, &status);
  std::remove(path.c_str());
  if (status != 0) {
    run.error = "`" + cmd + "` exited with status " + std::to_string(status);
    return run;
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("capability ", 0) == 0) {
      run.capability = line.substr(11);
      continue;
    }
    if (line.rfind("torch ", 0) == 0) {
      run.version = line.substr(6);
      continue;
    }
    std::istringstream fields(line);
    int id;
    std::string name;
    size_t count;
    fields >> id >> name >> count;
    std::vector<float>& values = run.tensors[{id, name}];
    values.reserve(count);
    std::string token;
    while (fields >> token)
      values.push_back(static_cast<float>(std::strtod(token.c_str(), nullptr)));
    if (values.size() != count) run.error = "truncated output for request " + std::to_string(id);
  }
  return run;
}

// |ours - torch| in units of ulp(max(|torch|, |mean|, std)); see Note [normal_ under AVX2].
double ScaledUlpDistance(float ours, float theirs, float mean, float std) {
  const float scale = std::max({std::fabs(theirs), std::fabs(mean), std});
  const float ulp = std::nextafter(scale, std::numeric_limits<float>::infinity()) - scale;
  return std::fabs(static_cast<double>(ours) - static_cast<double>(theirs)) / ulp;
}

class TorchOracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch_available_ = TorchOracleUnavailableReason().empty();
    if (!torch_available_) return;

    uint64_t master;
    if (const char* env = std::getenv("TWINSIM_ORACLE_SEED")) {
      master = std::strtoull(env, nullptr, 10);
    } else {
      std::random_device rd;
      master = (uint64_t{rd()} << 32) | rd();
    }
    master_seed_ = master;
    std::cout << "[ oracle   ] TWINSIM_ORACLE_SEED=" << master
              << " (set this environment variable to replay these cases)" << std::endl;
    requests_ = MakeRequests(master);
    default_run_ = RunOracle(requests_, "ATEN_CPU_CAPABILITY=default");
    machine_run_ = RunOracle(requests_, "env -u ATEN_CPU_CAPABILITY");
    std::cout << "[ oracle   ] torch " << machine_run_.version << "; machine capability '"
              << machine_run_.capability << "', forced '" << default_run_.capability << "'"
              << std::endl;
  }

  static std::vector<Request> MakeRequests(uint64_t master) {
    std::mt19937_64 rng(master);
    auto seed = [&] { return rng(); };
    auto between = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    auto real = [&](double lo, double hi) {
      return std::uniform_real_distribution<double>(lo, hi)(rng);
    };
    std::vector<Request> r;
    auto add = [&](Request q) {
      q.id = static_cast<int>(r.size());
      r.push_back(q);
    };
    // rand: the well-known seed 0, a seed above 2^32 (only its low half reaches mt19937), and
    // random ones.
    add({.op = Op::kRand, .seed = 0, .numel = 5});
    add({.op = Op::kRand, .seed = (uint64_t{1} << 32) | 12345, .numel = 100});
    for (int i = 0; i < 3; ++i) add({.op = Op::kRand, .seed = seed(), .numel = between(1, 5000)});
    // uniform_: random ranges, plus an empty range (from == to).
    for (int i = 0; i < 5; ++i) {
      const double from = real(-3, 1);
      add({.op = Op::kUniform,
           .seed = seed(),
           .numel = between(1, 5000),
           .a = from,
           .b = from + real(0, 4)});
    }
    add({.op = Op::kUniform, .seed = seed(), .numel = 17, .a = 0.25, .b = 0.25});
    // nn.Linear: ones, odd sizes, and random shapes; one without bias.
    const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {1, 7},   {7, 1},
                                                  {3, 5}, {37, 29}, {128, 64}};
    for (auto [out, in] : shapes) add({.op = Op::kLinear, .seed = seed(), .out = out, .in = in});
    for (int i = 0; i < 3; ++i) {
      add({.op = Op::kLinear, .seed = seed(), .out = between(1, 300), .in = between(1, 300)});
    }
    add({.op = Op::kLinear,
         .seed = seed(),
         .out = between(1, 64),
         .in = between(1, 64),
         .bias = false});
    // normal_: the scalar path (< 16), exactly one group, tails, and large tensors.
    const int64_t sizes[] = {
        1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 1000 + between(0, 15), 65536, 262144 + between(1, 15)};
    for (int64_t n : sizes) {
      const bool standard = between(0, 3) == 0;
      add({.op = Op::kNormal,
           .seed = seed(),
           .numel = n,
           .a = standard ? 0.0 : real(-2, 2),
           .b = standard ? 1.0 : real(0.001, 3)});
    }
    return r;
  }

  void SetUp() override {
    if (!torch_available_) {
      GTEST_SKIP() << TorchOracleUnavailableReason();
    }
    ASSERT_TRUE(default_run_.error.empty()) << default_run_.error;
    ASSERT_TRUE(machine_run_.error.empty()) << machine_run_.error;
  }

  // The model's capability for the machine run: everything but DEFAULT ("NO AVX") fuses the
  // multiply-add in uniform_ (AVX2 and AVX512 builds are compiled with FMA).
  static CpuCapability MachineCapability() {
    return machine_run_.capability == "NO AVX" || machine_run_.capability == "DEFAULT"
               ? CpuCapability::kDefault
               : CpuCapability::kAvx2;
  }

  // Expects `ours` == torch's tensor bit for bit; reports the first differences.
  static void ExpectBitExact(const OracleRun& run, const Request& r, const std::string& name,
                             const std::vector<float>& ours) {
    const auto it = run.tensors.find({r.id, name});
    ASSERT_NE(it, run.tensors.end()) << "no output for " << r.Line();
    const std::vector<float>& theirs = it->second;
    ASSERT_EQ(ours.size(), theirs.size()) << r.Line();
    int64_t mismatches = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      if (std::memcmp(&ours[i], &theirs[i], sizeof(float)) != 0 && ++mismatches <= 3) {
        ADD_FAILURE() << "capability '" << run.capability << "', request `" << r.Line() << "` "
                      << name << "[" << i << "]: model " << std::hexfloat << ours[i] << ", torch "
                      << theirs[i] << std::defaultfloat
                      << " (replay with TWINSIM_ORACLE_SEED=" << master_seed_ << ")";
      }
    }
    EXPECT_EQ(mismatches, 0) << "of " << ours.size() << " elements differ for `" << r.Line() << "`";
  }

  static std::vector<const Request*> Of(Op op) {
    std::vector<const Request*> out;
    for (const Request& r : requests_) {
      if (r.op == op) out.push_back(&r);
    }
    return out;
  }

  static inline bool torch_available_ = false;
  static inline uint64_t master_seed_ = 0;
  static inline std::vector<Request> requests_;
  static inline OracleRun default_run_, machine_run_;
};

TEST_F(TorchOracleTest, RandIsBitExactUnderBothCapabilities) {
  for (const Request* r : Of(Op::kRand)) {
    const std::vector<float> ours = Rand(r->seed, r->numel);
    ExpectBitExact(default_run_, *r, "out", ours);
    ExpectBitExact(machine_run_, *r, "out", ours);
  }
}

TEST_F(TorchOracleTest, UniformIsBitExactUnderBothCapabilities) {
  for (const Request* r : Of(Op::kUniform)) {
    ExpectBitExact(default_run_, *r, "out",
                   Uniform(r->seed, r->numel, r->a, r->b, CpuCapability::kDefault));
    ExpectBitExact(machine_run_, *r, "out",
                   Uniform(r->seed, r->numel, r->a, r->b, MachineCapability()));
  }
}

TEST_F(TorchOracleTest, LinearIsBitExactUnderBothCapabilities) {
  for (const Request* r : Of(Op::kLinear)) {
    for (const auto* run : {&default_run_, &machine_run_}) {
      const CpuCapability cap =
          run == &default_run_ ? CpuCapability::kDefault : MachineCapability();
      const LinearParams p = Linear(r->seed, r->out, r->in, r->bias, cap);
      ExpectBitExact(*run, *r, "weight", p.weight);
      if (r->bias) {
        ExpectBitExact(*run, *r, "bias", p.bias);
      } else {
        EXPECT_TRUE(p.bias.empty());
        EXPECT_EQ(run->tensors.count({r->id, "bias"}), 0u) << r->Line();
      }
    }
  }
}

TEST_F(TorchOracleTest, NormalIsBitExactUnderDefaultCapability) {
  for (const Request* r : Of(Op::kNormal)) {
    ExpectBitExact(default_run_, *r, "out", Normal(r->seed, r->numel, r->a, r->b));
  }
}

TEST_F(TorchOracleTest, NormalUnderMachineCapabilityIsWithinTheStatedBound) {
  if (MachineCapability() == CpuCapability::kDefault) {
    for (const Request* r : Of(Op::kNormal)) {
      ExpectBitExact(machine_run_, *r, "out", Normal(r->seed, r->numel, r->a, r->b));
    }
    return;
  }
  double worst = 0;
  int64_t identical = 0, total = 0;
  for (const Request* r : Of(Op::kNormal)) {
    const std::vector<float> ours = Normal(r->seed, r->numel, r->a, r->b);
    const std::vector<float>& theirs = machine_run_.tensors.at({r->id, "out"});
    ASSERT_EQ(ours.size(), theirs.size());
    for (size_t i = 0; i < ours.size(); ++i) {
      const double d =
          ScaledUlpDistance(ours[i], theirs[i], static_cast<float>(r->a), static_cast<float>(r->b));
      identical += ours[i] == theirs[i];
      ++total;
      if (d > worst) worst = d;
      ASSERT_LE(d, kNormalAvx2ScaledUlpBound)
          << "`" << r->Line() << "` element " << i << ": model " << std::hexfloat << ours[i]
          << ", torch (" << machine_run_.capability << ") " << theirs[i] << std::defaultfloat
          << " (replay with TWINSIM_ORACLE_SEED=" << master_seed_ << ")";
    }
  }
  std::cout << "[ oracle   ] normal_ under " << machine_run_.capability << ": " << identical
            << " of " << total << " elements identical; worst " << worst
            << " ulp of max(|value|, |mean|, std) (bound " << kNormalAvx2ScaledUlpBound << ")"
            << std::endl;
}

}  // namespace
}  // namespace twinsim::kernels::torch
