// The bad-scenario corpus: every file in tests/scenarios_bad/ starts with a line
// "# expect: FRAGMENT" and must be rejected by `twinsim sweep FILE --out DIR` with exit status
// 2, nothing on stdout, exactly one line on stderr that starts with "twinsim sweep: FILE:" and
// contains FRAGMENT (which names the line and the key), and DIR never created.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/twinsim_runner.h"

namespace twinsim {
namespace {

using testing::Lines;
using testing::ReadFile;
using testing::RunResult;
using testing::TmpDir;
using testing::Twinsim;

std::string CorpusDir() { return testing::SourcePath("tests/scenarios_bad"); }

std::vector<std::string> CorpusFiles() {
  std::vector<std::string> files;
  DIR* dir = opendir(CorpusDir().c_str());
  if (dir == nullptr) return files;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".toml") files.push_back(name);
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ScenarioCorpusTest, HasAtLeastFortyFiles) { EXPECT_GE(CorpusFiles().size(), 40u); }

TEST(ScenarioCorpusTest, EveryFileIsRejectedWithItsMessage) {
  int n = 0;
  for (const std::string& name : CorpusFiles()) {
    SCOPED_TRACE(name);
    const std::string path = CorpusDir() + "/" + name;
    const std::string text = ReadFile(path);
    const std::string marker = "# expect: ";
    ASSERT_EQ(text.rfind(marker, 0), 0u) << "first line must be '# expect: FRAGMENT'";
    const std::string fragment = text.substr(marker.size(), text.find('\n') - marker.size());
    ASSERT_FALSE(fragment.empty());
    const std::string out = TmpDir() + "/corpus_out_" + std::to_string(++n);
    const RunResult r = Twinsim({"sweep", path, "--out", out});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    const std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("twinsim sweep: " + path + ":", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(fragment), std::string::npos)
        << "expected: " << fragment << "\n     got: " << lines[0];
    struct stat info;
    EXPECT_NE(stat(out.c_str(), &info), 0) << "--out was created for a bad scenario";
  }
}

}  // namespace
}  // namespace twinsim
