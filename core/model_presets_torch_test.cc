// Checks the presets built from plain torch.nn modules against a live PyTorch (Debian's
// python3-torch): linear-stack and tiny-mlp parameter names, shapes and registration order,
// the fan_in torch computes, torch's own kaiming gain, and that torch's default init draws
// inside (and fills) the bounds the specs state. Also checks the module conventions the
// transformer presets rely on: nn.Linear is [out, in] with weight before bias, nn.Embedding
// is [num, dim], nn.LayerNorm starts at ones and zeros.
//
// Hugging Face's transformers is not installed, so GPT-2 and Llama are checked by published
// parameter totals in model_presets_test, not here. The torch seed is drawn at run time and
// printed as TWINSIM_ORACLE_SEED=<n>; set that variable to replay it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/model_presets.h"
#include "core/testing/python_oracle.h"

namespace twinsim::core {
namespace {

using testing_support::kOraclePython;
using testing_support::RunCommand;
using testing_support::RunfilePath;
using testing_support::TorchOracleUnavailableReason;

constexpr char kScript[] = "core/testdata/torch_modules.py";

std::string Shape(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s;
}

struct TorchParam {
  std::string name, shape, fan_in;
  double min = 0, max = 0;
};

struct Stack {
  std::string model_text;  // what MakeModel gets
  std::string torch_arg;   // LAYERS,IN,WIDTH,OUT,BIAS for torch_modules.py
};

class ModelPresetsTorchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = TorchOracleUnavailableReason();
    if (!missing.empty()) GTEST_SKIP() << missing;
  }
};

TEST_F(ModelPresetsTorchTest, LinearStacksMatchTorchModules) {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("TWINSIM_ORACLE_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("TWINSIM_ORACLE_SEED=%llu\n", static_cast<unsigned long long>(seed));

  const std::vector<Stack> stacks = {
      {"tiny-mlp", "3,12,32,10,1"},
      {"linear-stack", "4,1024,1024,1024,1"},
      {"linear-stack:layers=2,width=8,in_features=4,out_features=6,bias=0", "2,4,8,6,0"},
  };
  std::string command =
      std::string(kOraclePython) + " " + RunfilePath(kScript) + " " + std::to_string(seed);
  for (const Stack& s : stacks) command += " " + s.torch_arg;
  int status = 0;
  const std::string out = RunCommand(command, &status);
  ASSERT_EQ(status, 0) << command << "\n" << out;

  std::vector<std::vector<TorchParam>> models;
  std::vector<std::string> conventions;
  double torch_gain = 0;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string kind;
    f >> kind;
    if (kind == "gain") {
      std::string hex;
      f >> hex;
      torch_gain = std::strtod(hex.c_str(), nullptr);
    } else if (kind == "model") {
      models.emplace_back();
    } else if (kind == "param") {
      TorchParam p;
      std::string lo, hi;
      f >> p.name >> p.shape >> p.fan_in >> lo >> hi;
      p.min = std::strtod(lo.c_str(), nullptr);
      p.max = std::strtod(hi.c_str(), nullptr);
      ASSERT_FALSE(models.empty()) << line;
      models.back().push_back(p);
    } else if (kind == "convention") {
      conventions.push_back(line.substr(std::string("convention ").size()));
    }
  }
  ASSERT_EQ(models.size(), stacks.size()) << out;

  // The kaiming gain twinsim resolves with is torch's, bit for bit.
  EXPECT_EQ(CalculateGain(Nonlinearity::kLeakyRelu, std::sqrt(5.0)), torch_gain);

  for (size_t m = 0; m < stacks.size(); ++m) {
    StatusOr<ModelSpec> spec = MakeModel(stacks[m].model_text);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    const std::vector<TorchParam>& torch = models[m];
    ASSERT_EQ(spec->params.size(), torch.size()) << stacks[m].model_text;
    for (size_t i = 0; i < torch.size(); ++i) {
      const ParamSpec& p = spec->params[i];
      const TorchParam& t = torch[i];
      SCOPED_TRACE(stacks[m].model_text + " " + t.name);
      EXPECT_EQ(p.name, t.name);
      EXPECT_EQ(Shape(p.shape), t.shape);
      double bound = 0;
      if (p.init.kind == InitKind::kKaimingUniform) {
        EXPECT_EQ(std::to_string(p.init.fan_in), t.fan_in);
        bound = CalculateGain(p.init.nonlinearity, p.init.a) *
                std::sqrt(3.0 / static_cast<double>(p.init.fan_in));
      } else {
        ASSERT_EQ(p.init.kind, InitKind::kUniform);
        EXPECT_EQ(p.init.a, -p.init.b);
        bound = p.init.b;
      }
      // torch draws in float32: allow the bound's rounding to float.
      const double slack = bound * 1e-6;
      EXPECT_GE(t.min, -bound - slack);
      EXPECT_LE(t.max, bound + slack);
      if (p.Numel() >= 1000) {  // large draws reach close to both ends of U(-bound, bound)
        EXPECT_LT(t.min, -0.98 * bound);
        EXPECT_GT(t.max, 0.98 * bound);
      }
    }
  }

  const std::vector<std::string> expected_conventions = {
      "linear weight 3,5",  // nn.Linear(5, 3): [out, in], weight registered before bias
      "linear bias 3",
      "embedding weight 7,4",  // nn.Embedding(7, 4): [num_embeddings, embedding_dim]
      "layernorm weight 4 1",  // nn.LayerNorm(4): weight ones, then bias zeros
      "layernorm bias 4 0",
  };
  EXPECT_EQ(conventions, expected_conventions) << out;
}

}  // namespace
}  // namespace twinsim::core
