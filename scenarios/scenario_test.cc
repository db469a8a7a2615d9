// Unit tests of the scenario parser: keys map to options, lists sweep, [[X.case]] tables,
// aliases and inline tables, ids, and a sample of errors (tests/scenarios_bad/ has the corpus).
#include "scenarios/scenario.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace twinsim::scenarios {
namespace {

const std::vector<CommandSchema>& Schemas() {
  static const std::vector<CommandSchema> schemas = {
      {"init",
       {{"model", false, true},
        {"tp", false, false},
        {"pp", false, false},
        {"policy", false, true},
        {"backend", false, false},
        {"timing-only", true, false},
        {"trace", false, false}}},
      {"place",
       {{"cluster", false, true},
        {"model", false, true},
        {"batch", false, false},
        {"policy", false, true}}},
  };
  return schemas;
}

Scenario Parse(const std::string& text) {
  StatusOr<Scenario> s = ParseScenario(text, "t.toml", Schemas());
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? *s : Scenario{};
}

std::string Error(const std::string& text) {
  StatusOr<Scenario> s = ParseScenario(text, "t.toml", Schemas());
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : s.status().message();
}

std::string Joined(const ScenarioCase& c) {
  std::string text = c.command;
  for (const std::string& a : c.Arguments()) text += " " + a;
  return text;
}

TEST(ScenarioTest, KeysBecomeOptionsInDeclarationOrder) {
  const Scenario s = Parse("[[init]]\npolicy = 'counter'\ntp = 2\nmodel = 'gpt2-small'\n");
  ASSERT_EQ(s.cases.size(), 1u);
  EXPECT_EQ(Joined(s.cases[0]), "init --model gpt2-small --tp 2 --policy counter");
  EXPECT_EQ(s.cases[0].LineOf("tp"), 3);
  EXPECT_EQ(s.cases[0].id.rfind("init-", 0), 0u);
  EXPECT_EQ(s.cases[0].id.size(), 5u + 12u);
}

TEST(ScenarioTest, ListsSweepAsACartesianProductFirstKeySlowest) {
  const Scenario s =
      Parse("[[init]]\nmodel = 'm'\ntp = [1, 2]\npp = [1, 2, 4]\npolicy = 'counter'\n");
  ASSERT_EQ(s.cases.size(), 6u);
  EXPECT_EQ(Joined(s.cases[0]), "init --model m --tp 1 --pp 1 --policy counter");
  EXPECT_EQ(Joined(s.cases[1]), "init --model m --tp 1 --pp 2 --policy counter");
  EXPECT_EQ(Joined(s.cases[5]), "init --model m --tp 2 --pp 4 --policy counter");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(s.cases[i].index, i);
}

TEST(ScenarioTest, CaseTablesAreExplicitListsOverTheBlock) {
  const Scenario s = Parse(
      "[[init]]\nmodel = 'm'\npolicy = ['a', 'b']\n[[init.case]]\ntp = 2\n[[init.case]]\npp = 2\n"
      "policy = 'c'\n");
  ASSERT_EQ(s.cases.size(), 3u);
  EXPECT_EQ(Joined(s.cases[0]), "init --model m --tp 2 --policy a");
  EXPECT_EQ(Joined(s.cases[1]), "init --model m --tp 2 --policy b");
  EXPECT_EQ(Joined(s.cases[2]), "init --model m --pp 2 --policy c");
}

TEST(ScenarioTest, FlagsTakeBooleansAndFalseLeavesThemOut) {
  const Scenario s = Parse("[[init]]\nmodel = 'm'\npolicy = 'p'\ntiming-only = [true, false]\n");
  ASSERT_EQ(s.cases.size(), 2u);
  EXPECT_EQ(Joined(s.cases[0]), "init --model m --policy p --timing-only");
  EXPECT_EQ(Joined(s.cases[1]), "init --model m --policy p");
}

TEST(ScenarioTest, AliasesAndInlineTablesBecomeSpecs) {
  const Scenario s = Parse(
      "[models]\ntiny = { family = 'gpt2', n_layer = 2, n_embd = 64 }\n"
      "[clusters]\nsmall = 'dgx-h100:nodes=2'\n"
      "[[place]]\nmodel = ['tiny', { preset = 'gpt2-small', n_layer = 1 }]\ncluster = 'small'\n"
      "policy = 'auto'\nbatch = 1.5\n");
  ASSERT_EQ(s.cases.size(), 2u);
  EXPECT_EQ(Joined(s.cases[0]),
            "place --cluster dgx-h100:nodes=2 --model gpt2:n_embd=64,n_layer=2 --batch 1.5 "
            "--policy auto");
  EXPECT_EQ(Joined(s.cases[1]),
            "place --cluster dgx-h100:nodes=2 --model gpt2-small:n_layer=1 --batch 1.5 "
            "--policy auto");
}

TEST(ScenarioTest, BlocksExpandInFileOrderAcrossCommands) {
  const Scenario s = Parse(
      "[[place]]\ncluster = 'c'\nmodel = 'm'\npolicy = 'p'\n[[init]]\nmodel = 'm'\npolicy = 'p'\n"
      "[[place]]\ncluster = 'd'\nmodel = 'm'\npolicy = 'p'\n");
  ASSERT_EQ(s.cases.size(), 3u);
  EXPECT_EQ(s.cases[0].command, "place");
  EXPECT_EQ(s.cases[1].command, "init");
  EXPECT_EQ(s.cases[2].command, "place");
}

TEST(ScenarioTest, IdsDependOnTheCommandLineOnly) {
  const Scenario a = Parse("[[init]]\nmodel = 'm'\npolicy = 'p'\nlabel = 'x'\n");
  const Scenario b = Parse("# moved\n\n[[init]]\nlabel = 'y'\npolicy = 'p'\nmodel = 'm'\n");
  const Scenario c = Parse("[[init]]\nmodel = 'm'\npolicy = 'q'\n");
  EXPECT_EQ(a.cases[0].id, b.cases[0].id);
  EXPECT_NE(a.cases[0].id, c.cases[0].id);
}

TEST(ScenarioTest, ErrorsNameFileLineKeyAndExpectation) {
  EXPECT_EQ(Error("[[init]]\nmodel = 'm'\npolicy = 'p'\ntpp = 2\n"),
            "t.toml:4: init.tpp: unknown key (did you mean 'tp'?); expected an option of twinsim "
            "init (see 'twinsim init --help') or label, case");
  EXPECT_EQ(Error("[[init]]\nmodel = 'm'\n"),
            "t.toml:1: init: missing key 'policy' (--policy is required by twinsim init)");
  EXPECT_EQ(Error("[[init]]\nmodel = 'm'\npolicy = 'p'\ntp = []\n"),
            "t.toml:4: init.tp: expected at least one value, got an empty list");
  EXPECT_EQ(Error("[[init]]\nmodel = 'm'\npolicy = 'p'\ntiming-only = 1\n"),
            "t.toml:4: init.timing-only: expected true or false (--timing-only is a flag), got an "
            "integer");
  EXPECT_EQ(
      Error("[[init]]\nmodel = 'm'\npolicy = 'p'\njson = true\n"),
      "t.toml:4: init.json: set by the sweep itself (every case runs with --json); remove it");
  EXPECT_EQ(Error("[[inti]]\nmodel = 'm'\n"),
            "t.toml:1: inti: unknown top-level key (did you mean 'init'?); expected 'name', "
            "'description', 'case_timeout', 'models', 'clusters', 'init', 'place'");
  EXPECT_EQ(Error("case_timeout = 0\n[[init]]\nmodel = 'm'\npolicy = 'p'\n"),
            "t.toml:1: case_timeout: expected seconds, a number > 0 and at most 604800 (a week), "
            "got 0");
}

TEST(ScenarioTest, CaseTimeoutIsSecondsIntegerOrFloat) {
  for (const auto& [text, seconds] :
       std::vector<std::pair<std::string, double>>{{"case_timeout = 90\n", 90.0},
                                                   {"case_timeout = 2.5\n", 2.5},
                                                   {"", 0.0}}) {
    StatusOr<Scenario> s = ParseScenario(text + "[[init]]\nmodel = 'm'\npolicy = 'p'\n",
                                         "t.toml", Schemas());
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->case_timeout_s, seconds) << text;
  }
}

TEST(ScenarioTest, DuplicateCasesAreErrors) {
  EXPECT_EQ(Error("[[init]]\nmodel = 'm'\npolicy = 'p'\n[[init]]\nmodel = 'm'\npolicy = 'p'\n"),
            "t.toml:4: init: a case repeats the one from line 1 (same command and options); "
            "expected each case once");
}

// Found by the parser's fuzz target: toml++ 3.3.0 asserts on a table header cut by a newline
// (Note [toml++ assertions] in scenario.cc). It must be an ordinary syntax error.
TEST(ScenarioTest, TomlHeaderCutByANewlineIsASyntaxErrorNotAnAssert) {
  const std::string message = Error("\n[\n");
  EXPECT_EQ(message.rfind("t.toml:2:", 0), 0u) << message;
  EXPECT_NE(message.find("TOML syntax"), std::string::npos) << message;
}

// Found by the fuzz target under UBSan: toml++ 3.3.0 reaches __builtin_unreachable() when it
// asks whether U+0411 is whitespace (Note [toml++ and non-ASCII text] in scenario.cc).
TEST(ScenarioTest, FuzzCase4da89a6aNonAsciiOutsideStringsIsRejectedBeforeTomlxx) {
  EXPECT_EQ(Error("\xd0\x91 "),
            "t.toml:1:1: TOML syntax: non-ASCII character outside a string or comment");
  EXPECT_EQ(Error("[[init]]\nmodel = 'm'\npolicy = 'p'\ntp = 1\xd0\x91\n"),
            "t.toml:4:7: TOML syntax: non-ASCII character outside a string or comment");
  // ... and while quoting the text after an error.
  EXPECT_EQ(Error("x = 0\"\xd1\x80\"\n").rfind("t.toml:1:", 0), 0u);
  // After a line-ending backslash in a """ string it is an ordinary character of the string.
  EXPECT_EQ(
      Parse("name = \"\"\"a \\\n  \xd0\x91\"\"\"\n[[init]]\nmodel = 'm'\npolicy = 'p'\n").name,
      "a \xd0\x91");
  EXPECT_EQ(Error("name = 'a\xff'\n"), "t.toml:1:10: TOML syntax: invalid UTF-8");
}

// Found by the fuzz target: toml++ quotes what it saw raw, newline included; the message must
// stay on one line.
TEST(ScenarioTest, FuzzCaseE7aac611TomlMessagesStayOnOneLine) {
  const std::string message = Error(std::string("seed = n\n\0$\n", 12));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind("t.toml:1:", 0), 0u) << message;
}

TEST(ScenarioTest, NonAsciiTextInStringsAndCommentsIsFine) {
  const Scenario s = Parse(
      "# Сценарий — ÄÖÜ\nname = \"проверка\"\ndescription = '''многие\nстроки'''\n"
      "[[init]]\nlabel = \"матрица \\\" ü\" # ещё\nmodel = '\\м\"'\npolicy = '''p\"\\ü''''\n");
  EXPECT_EQ(s.name, "проверка");
  EXPECT_EQ(s.description, "многие\nстроки");
  ASSERT_EQ(s.cases.size(), 1u);
  EXPECT_EQ(s.cases[0].label, "матрица \" ü");
  // Literal strings keep backslashes and quotes as they are.
  EXPECT_EQ(Joined(s.cases[0]), "init --model \\м\" --policy p\"\\ü'");
}

TEST(CaseFilterTest, TermsMustAllHold) {
  const Scenario s = Parse("[[init]]\nmodel = 'm'\npolicy = ['a', 'b']\ntp = [1, 2]\n");
  StatusOr<CaseFilter> f = CaseFilter::Parse("policy=a tp!=2");
  ASSERT_TRUE(f.ok());
  int matched = 0;
  for (const ScenarioCase& c : s.cases) matched += f->Matches(c);
  EXPECT_EQ(matched, 1);
  StatusOr<CaseFilter> contains = CaseFilter::Parse("command=init model~m");
  ASSERT_TRUE(contains.ok());
  EXPECT_TRUE(contains->Matches(s.cases[0]));
  EXPECT_FALSE(CaseFilter::Parse("policy").ok());
  EXPECT_FALSE(CaseFilter::Parse("  ").ok());
}

}  // namespace
}  // namespace twinsim::scenarios
