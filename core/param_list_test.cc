#include "core/param_list.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/model_file.h"
#include "core/model_presets.h"

namespace twinsim::core {
namespace {

using nlohmann::json;

void ExpectSameParams(const ModelSpec& a, const ModelSpec& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  for (size_t i = 0; i < a.params.size(); ++i) {
    const ParamSpec& x = a.params[i];
    const ParamSpec& y = b.params[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.shape, y.shape);
    EXPECT_EQ(x.dtype, y.dtype);
    EXPECT_EQ(FormatInitSpec(x.init), FormatInitSpec(y.init));
    EXPECT_EQ(x.tp_split, y.tp_split);
    EXPECT_EQ(x.tp_dim, y.tp_dim);
    EXPECT_EQ(x.role, y.role);
    EXPECT_EQ(x.layer, y.layer);
    EXPECT_EQ(x.expert, y.expert);
    EXPECT_EQ(x.tied_to, y.tied_to);
  }
}

// Every preset, written as a parameter list and read back, is the same model: the format can
// say everything a ModelSpec holds (GPT-2's tied head, vocab splits, Llama's GQA, bf16).
TEST(ParamListTest, PresetsRoundTrip) {
  for (const char* text : {"gpt2-small", "gpt2:n_layer=2,dtype=bf16", "llama3:n_layers=2",
                           "linear-stack", "tiny-mlp"}) {
    SCOPED_TRACE(text);
    StatusOr<ModelSpec> model = MakeModel(text);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const json doc = ParamListFromModelSpec(*model);
    StatusOr<ModelSpec> back = ModelSpecFromParamList(json::parse(doc.dump()), "x.json", "x");
    ASSERT_TRUE(back.ok()) << back.status().message();
    ExpectSameParams(*model, *back);
    EXPECT_EQ(back->name, "x");
    EXPECT_EQ(back->NumParams(), model->NumParams());
  }
}

// The defaults of Note [Parameter list format]: fp32, replicated, tp_dim by split, fans from
// the shape as torch computes them, roles from the position around the layered parameters,
// num_layers from the largest layer index.
TEST(ParamListTest, Defaults) {
  const json doc = json::parse(R"({
    "format": "twinsim-params", "version": 1,
    "params": [
      {"name": "embed.weight", "shape": [100, 16], "init": "normal"},
      {"name": "blocks.0.conv.weight", "shape": [32, 16, 3, 3], "init": "kaiming_uniform:a=2.23606797749979", "tp": "column", "layer": 0},
      {"name": "blocks.0.proj.weight", "shape": [16, 32], "init": "xavier_uniform", "tp": "row", "layer": 0},
      {"name": "blocks.1.norm.bias", "shape": [16], "init": "constant", "tp": "row", "layer": 1},
      {"name": "norm.weight", "shape": [16], "init": "constant:value=1"},
      {"name": "head.weight", "shape": [100, 16], "init": "normal", "tied_to": "embed.weight", "tp": "vocab"}
    ]})");
  StatusOr<ModelSpec> m = ModelSpecFromParamList(doc, "net.json", "net");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->num_layers, 2);
  EXPECT_EQ(m->num_heads, 0);
  const auto& p = m->params;
  EXPECT_EQ(p[0].dtype, DType::kFp32);
  EXPECT_EQ(p[0].role, ParamRole::kEmbedding);
  EXPECT_EQ(p[0].tp_split, TpSplit::kReplicated);
  EXPECT_EQ(p[0].tp_dim, -1);
  // torch: fan_in = 16 * 3 * 3, fan_out = 32 * 3 * 3.
  EXPECT_EQ(p[1].init.fan_in, 144);
  EXPECT_EQ(p[1].init.fan_out, 288);
  EXPECT_EQ(p[1].tp_dim, 0);
  EXPECT_EQ(p[1].role, ParamRole::kLayer);
  EXPECT_EQ(p[2].tp_dim, 1);
  EXPECT_EQ(p[2].init.fan_in, 32);
  EXPECT_EQ(p[2].init.fan_out, 16);
  EXPECT_EQ(p[3].tp_dim, 0);  // a 1-D row tensor splits its only dimension
  EXPECT_EQ(p[4].role, ParamRole::kHead);
  EXPECT_EQ(p[5].role, ParamRole::kHead);
  EXPECT_EQ(p[5].tied_to, "embed.weight");
  EXPECT_EQ(m->NumParams(), 100 * 16 + 32 * 16 * 9 + 16 * 32 + 16 + 16);
}

struct BadCase {
  const char* params;  // the "params" array's text, or a whole document when it starts with '{'
  const char* message;
};

TEST(ParamListTest, BadListsGetOneLineNamingWhatIsWrong) {
  const BadCase cases[] = {
      {"{}", "missing \"format\""},
      {R"({"format": "onnx", "version": 1, "params": []})", "\"format\" is 'onnx'"},
      {R"({"format": "twinsim-params", "params": []})", "missing \"version\""},
      {R"({"format": "twinsim-params", "version": 2, "params": []})", "newer than this twinsim"},
      {R"({"format": "twinsim-params", "version": 1, "parms": []})",
       "unknown key 'parms' (did you mean 'params'?)"},
      {R"({"format": "twinsim-params", "version": 1, "params": []})", "\"params\" is empty"},
      {R"({"format": "twinsim-params", "version": 1, "params": {}})", "must be an array"},
      {R"({"format": "twinsim-params", "version": 1, "num_layers": -1, "params": [{"name": "w", "shape": [2], "init": "normal"}]})",
       "\"num_layers\" must be >= 0, got -1"},
      {R"([{"name": "w", "shape": [2, 0], "init": "normal"}])",
       "params[0] ('w'): \"shape\" must be an array of positive integers, got '[2,0]'"},
      {R"([{"name": "w", "shape": [-4], "init": "normal"}])", "positive integers"},
      {R"([{"name": "w", "shape": [2.5], "init": "normal"}])", "positive integers"},
      {R"([{"name": "w", "shape": "2,3", "init": "normal"}])", "got string"},
      {R"([{"name": "w", "shape": [2]}])", "params[0] ('w'): missing \"init\""},
      {R"([{"shape": [2], "init": "normal"}])", "params[0]: missing \"name\""},
      {R"([{"name": 7, "shape": [2], "init": "normal"}])", "\"name\" must be a string, got number"},
      {R"([{"name": "w", "shape": [2], "init": "gaussian"}])", "params[0] ('w'): \"init\": "},
      {R"([{"name": "w", "shape": [2], "init": "kaiming_uniform"}])",
       "needs fan_in and fan_out"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "dtype": "int8"}])", "\"dtype\": "},
      {R"([{"name": "w", "shape": [2], "init": "normal", "tp": "diagonal"}])",
       "\"tp\" is 'diagonal'; expected replicated, column, row or vocab"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "tp": "column", "tp_dim": 1}])",
       "tp_dim 1 is outside shape [2]"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "role": "layer"}])",
       "\"role\" is \"layer\" but no \"layer\" index is given"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "role": "body"}])", "\"role\" is 'body'"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "expert": -2}])",
       "\"expert\" must be >= -1"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "layer": 1.0}])",
       "\"layer\" must be an integer, got number"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "tied_too": "v"}])",
       "unknown key 'tied_too' (did you mean 'tied_to'?)"},
      {R"([{"name": "w", "shape": [2], "init": "normal"}, {"name": "w", "shape": [2], "init": "normal"}])",
       "'w'"},
      {R"([{"name": "w", "shape": [2], "init": "normal", "tied_to": "v"}])", "'v'"},
      {R"([{"name": "w", "shape": [4611686018427387904, 4], "init": "normal"}])", "model file 'bad.json': "},
      {R"([{"name": "w", "shape": [18446744073709551615], "init": "normal"}])", "positive integers"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.params);
    const std::string text =
        c.params[0] == '{' ? std::string(c.params)
                           : std::string(R"({"format": "twinsim-params", "version": 1, "params": )") +
                                 c.params + "}";
    StatusOr<ModelSpec> m = ModelSpecFromParamList(json::parse(text), "bad.json", "bad");
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    const std::string message = m.status().message();
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
    EXPECT_EQ(message.rfind("model file 'bad.json': ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

class ModelFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string path = std::string(tmp ? tmp : "/tmp") + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(ModelFileTest, MakeModelReadsParameterLists) {
  StatusOr<ModelSpec> gpt2 = MakeModel("gpt2:n_layer=1,n_embd=64,n_head=4,vocab_size=128");
  ASSERT_TRUE(gpt2.ok());
  const std::string path = Write("gpt2.json", ParamListFromModelSpec(*gpt2).dump(1));
  StatusOr<ModelSpec> m = MakeModel(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->name, path);
  ExpectSameParams(*gpt2, *m);
}

TEST_F(ModelFileTest, FileErrorsNameTheFileAndPlace) {
  StatusOr<ModelSpec> m = MakeModel("/nonexistent/net.json");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "model file '/nonexistent/net.json': no such file");

  const std::string bad = Write("bad.json", "{\n  \"format\": \"twinsim-params\",\n  \"version\": 1,,\n}");
  m = LoadModelFile(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("invalid JSON at line 3, column 16: syntax error"),
            std::string::npos)
      << m.status().message();

  m = LoadModelFile(Write("other.json", R"({"layers": 3})"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("not a Hugging Face config"), std::string::npos);

  m = LoadModelFile(Write("array.json", "[1, 2]"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("expected a JSON object, got array"), std::string::npos);

  const char* tmp = std::getenv("TEST_TMPDIR");
  m = LoadModelFile(std::string(tmp ? tmp : "/tmp"));
  EXPECT_FALSE(m.ok());
  m = MakeModel(".json");
  EXPECT_FALSE(m.ok());
}

}  // namespace
}  // namespace twinsim::core
