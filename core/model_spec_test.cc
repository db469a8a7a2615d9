#include "core/model_spec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace twinsim::core {
namespace {

ParamSpec Param(std::string name, std::vector<int64_t> shape) {
  ParamSpec p;
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.init.kind = InitKind::kNormal;
  p.init.std = 0.02;
  p.role = ParamRole::kEmbedding;
  return p;
}

// A small valid model: a vocab-split embedding, one layer with a column-split weight, and a
// head tied to the embedding.
ModelSpec SmallModel() {
  ModelSpec m;
  m.name = "small";
  m.num_layers = 1;
  ParamSpec emb = Param("emb.weight", {10, 4});
  emb.tp_split = TpSplit::kVocab;
  emb.tp_dim = 0;
  ParamSpec w = Param("layers.0.weight", {8, 4});
  w.role = ParamRole::kLayer;
  w.layer = 0;
  w.tp_split = TpSplit::kColumn;
  w.tp_dim = 0;
  ParamSpec norm = Param("norm.weight", {4});
  norm.role = ParamRole::kFinalNorm;
  norm.init.kind = InitKind::kConstant;
  norm.init.value = 1;
  ParamSpec head = Param("head.weight", {10, 4});
  head.role = ParamRole::kHead;
  head.tp_split = TpSplit::kVocab;
  head.tp_dim = 0;
  head.tied_to = "emb.weight";
  m.params = {emb, w, norm, head};
  return m;
}

TEST(ModelSpecTest, NumelIsTheProductOfTheShape) {
  EXPECT_EQ(Param("a", {3, 5, 7}).Numel(), 105);
  EXPECT_EQ(Param("a", {50257, 768}).Numel(), 38597376);
  EXPECT_EQ(Param("scalar", {}).Numel(), 1);
}

TEST(ModelSpecTest, NumParamsCountsTiedParametersOnce) {
  const ModelSpec m = SmallModel();
  EXPECT_EQ(m.NumParams(), 40 + 32 + 4);  // head.weight shares emb.weight's storage
  ModelSpec untied = m;
  untied.params[3].tied_to.clear();
  EXPECT_EQ(untied.NumParams(), 40 + 32 + 4 + 40);
}

TEST(ModelSpecTest, FindReturnsTheIndexOrMinusOne) {
  const ModelSpec m = SmallModel();
  EXPECT_EQ(m.Find("emb.weight"), 0);
  EXPECT_EQ(m.Find("head.weight"), 3);
  EXPECT_EQ(m.Find("head"), -1);
  EXPECT_EQ(m.Find(""), -1);
}

TEST(ModelSpecTest, NamesAndBytes) {
  EXPECT_EQ(DTypeName(DType::kBf16), "bf16");
  EXPECT_EQ(DTypeSize(DType::kFp32), 4u);
  EXPECT_EQ(DTypeSize(DType::kFp16), 2u);
  EXPECT_EQ(TpSplitName(TpSplit::kRow), "row");
  EXPECT_EQ(ParamRoleName(ParamRole::kFinalNorm), "final_norm");
  EXPECT_EQ(FormatShape({768, 2304}), "[768, 2304]");
  EXPECT_EQ(FormatShape({}), "[]");
}

TEST(ModelSpecTest, ValidModelPasses) {
  Status s = ValidateModelSpec(SmallModel());
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(ModelSpecTest, BrokenModelsSayWhatIsWrong) {
  struct Case {
    const char* what;
    std::function<void(ModelSpec&)> breakit;
    const char* message;
  };
  const Case cases[] = {
      {"no params", [](ModelSpec& m) { m.params.clear(); }, "model 'small': has no parameters"},
      {"negative layers", [](ModelSpec& m) { m.num_layers = -1; },
       "model 'small': num_layers must be >= 0, got -1"},
      {"empty name", [](ModelSpec& m) { m.params[1].name.clear(); },
       "model 'small': param #1 has no name"},
      {"duplicate", [](ModelSpec& m) { m.params[2].name = "emb.weight"; },
       "model 'small': param 'emb.weight': name used twice (params #0 and #2)"},
      {"zero dim",
       [](ModelSpec& m) {
         m.params[1].shape = {8, 0};
       },
       "param 'layers.0.weight': shape [8, 0] needs every dimension >= 1"},
      {"overflow",
       [](ModelSpec& m) {
         m.params[1].shape = {int64_t{1} << 40, int64_t{1} << 40};
       },
       "at most 2^63-1 elements"},
      {"tp_dim outside", [](ModelSpec& m) { m.params[1].tp_dim = 2; },
       "param 'layers.0.weight': tp_dim 2 is outside shape [8, 4] (column split)"},
      {"replicated with dim", [](ModelSpec& m) { m.params[2].tp_dim = 0; },
       "param 'norm.weight': replicated but tp_dim is 0 (expected -1)"},
      {"layer outside", [](ModelSpec& m) { m.params[1].layer = 1; },
       "param 'layers.0.weight': layer 1 is outside [0, 1)"},
      {"layer on embedding", [](ModelSpec& m) { m.params[0].layer = 0; },
       "param 'emb.weight': role embedding but layer is 0 (expected -1)"},
      {"expert", [](ModelSpec& m) { m.params[1].expert = -2; },
       "param 'layers.0.weight': expert must be >= -1, got -2"},
      {"bad init", [](ModelSpec& m) { m.params[1].init.std = -1; },
       "param 'layers.0.weight': init normal: std must be >= 0, got -1"},
      {"tie to nothing", [](ModelSpec& m) { m.params[3].tied_to = "wte"; },
       "param 'head.weight': tied_to 'wte' is not a parameter"},
      {"tie to self", [](ModelSpec& m) { m.params[3].tied_to = "head.weight"; },
       "param 'head.weight': tied to itself"},
      {"tie chain",
       [](ModelSpec& m) {
         ParamSpec extra = m.params[3];
         extra.name = "head2.weight";
         extra.tied_to = "head.weight";
         m.params.push_back(extra);
       },
       "param 'head2.weight': tied to 'head.weight', which is itself tied to 'emb.weight'"},
      {"tie shape",
       [](ModelSpec& m) {
         m.params[3].shape = {4, 10};
       },
       "param 'head.weight': shape [4, 10] fp32 differs from tied 'emb.weight' [10, 4] fp32"},
      {"tie dtype", [](ModelSpec& m) { m.params[3].dtype = DType::kBf16; },
       "shape [10, 4] bf16 differs from tied 'emb.weight' [10, 4] fp32"},
      {"total overflow",
       [](ModelSpec& m) {
         m.params[0].shape = {int64_t{1} << 62};
         m.params[3].tied_to.clear();
         m.params[3].shape = {int64_t{1} << 62};
       },
       "model 'small': more than 2^63-1 elements in all"},
  };
  for (const Case& c : cases) {
    ModelSpec m = SmallModel();
    c.breakit(m);
    Status s = ValidateModelSpec(m);
    ASSERT_FALSE(s.ok()) << c.what;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << c.what << " -> " << s.message();
  }
}

}  // namespace
}  // namespace twinsim::core
