// search_chunk_configuration against an oracle that runs Python's own round(), range() and
// math.ceil and numpy's own np.mean / np.std (Debian's python3-numpy): a transcription of
// ColossalAI@4f9953be's search_utils.py in testdata/search_chunk_configuration.py. Random cases
// from a fixed seed cover the outlier limit bit for bit (lists past numpy's pairwise block of
// 128 and its 8192-element buffer), sizes at mean + 3 std (nine equal sizes and one large),
// minimum and range values halfway between two element counts (round half to even), kept-
// gathered models and the DP rounding of the winner. Skips itself without numpy.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/testing/python_oracle.h"
#include "policies/placement/chunk.h"

namespace twinsim::placement {
namespace {

using core::testing_support::kOraclePython;
using core::testing_support::RunCommand;
using core::testing_support::RunfilePath;

struct Case {
  double min_m = 0, range_m = 0;
  int64_t interval = 1;
  int dp = 1;
  bool filter = true;
  std::vector<int64_t> sizes;
};

constexpr double kMebi = 1024.0 * 1024.0;

Case RandomCase(std::mt19937_64& rng) {
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  Case c;
  switch (uniform(0, 4)) {
    case 0:  // small sizes, a few large ones
      for (int64_t i = 0, n = uniform(1, 120); i < n; ++i) {
        c.sizes.push_back(uniform(0, 9) == 0 ? uniform(100, 5000) : uniform(1, 64));
      }
      break;
    case 1: {  // nine equal sizes and one large: exactly at mean + 3 std, numpy rounds it
      const int64_t s = uniform(1, 2000);
      c.sizes.assign(9, s);
      c.sizes.insert(c.sizes.begin() + uniform(0, 9), s + uniform(1, 1000000000));
      break;
    }
    case 2:  // model-like sizes
      for (int64_t i = 0, n = uniform(1, 120); i < n; ++i) {
        const int64_t d = int64_t{64} << uniform(0, 6);
        c.sizes.push_back(std::vector<int64_t>{d, 3 * d * d, d * d, 4 * d * d}[uniform(0, 3)]);
      }
      break;
    case 3:  // many sizes: numpy's 8192-element buffers (one candidate, to stay quick); sizes and
             // minimum below 2^35 keep every candidate within kMaxChunkElements
      for (int64_t i = 0, n = uniform(129, 20000); i < n; ++i) {
        c.sizes.push_back(uniform(1, int64_t{1} << 35));
      }
      break;
    default:  // a model below the minimum: kept gathered
      for (int64_t i = 0, n = uniform(1, 8); i < n; ++i) c.sizes.push_back(uniform(1, 100));
      break;
  }
  int64_t largest = 0;
  for (int64_t s : c.sizes) largest = std::max(largest, s);
  c.interval = uniform(1, std::max<int64_t>(1, largest / 4));
  const int64_t steps = c.sizes.size() > 120 ? 0 : uniform(0, 48);
  // Element counts, sometimes a half above (Python rounds a half to the even count).
  const double half = uniform(0, 2) == 0 ? 0.5 : 0.0;
  c.range_m = (static_cast<double>(steps * c.interval) + half) / kMebi;
  c.min_m = (static_cast<double>(uniform(0, std::min(2 * largest, int64_t{1} << 35))) +
             (uniform(0, 2) == 0 ? 0.5 : 0.0)) /
            kMebi;
  // Half an element above an even total: Python rounds the minimum down to the total (searched,
  // not below it), rounding away from zero would keep the model gathered.
  int64_t total = 0;
  for (int64_t s : c.sizes) total += s;
  if (total % 2 == 0 && total < (int64_t{1} << 35) && uniform(0, 3) == 0) {
    c.min_m = (static_cast<double>(total) + 0.5) / kMebi;
  }
  c.dp = static_cast<int>(uniform(1, 8));
  c.filter = uniform(0, 4) != 0;
  return c;
}

TEST(ChunkNumpyOracleTest, SearchMatchesPythonAndNumpy) {
  int status = 0;
  RunCommand(std::string(kOraclePython) + " -c 'import numpy' >/dev/null 2>&1", &status);
  if (status != 0) {
    GTEST_SKIP() << kOraclePython << " cannot import numpy: install Debian's python3-numpy "
                 << "(tools/setup does)";
  }
  constexpr uint64_t kSeed = 20261207;
  std::mt19937_64 rng(kSeed);
  std::vector<Case> cases;
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string input = std::string(dir ? dir : "/tmp") + "/chunk_numpy_oracle_cases.txt";
  {
    std::ofstream out(input);
    for (int i = 0; i < 400; ++i) {
      cases.push_back(RandomCase(rng));
      const Case& c = cases.back();
      char head[128];
      std::snprintf(head, sizeof head, "%.17g %.17g %lld %d %d", c.min_m, c.range_m,
                    static_cast<long long>(c.interval), c.dp, c.filter ? 1 : 0);
      out << head;
      for (int64_t s : c.sizes) out << ' ' << s;
      out << '\n';
    }
  }
  const std::string output = RunCommand(
      std::string(kOraclePython) + " " +
          RunfilePath("policies/placement/testdata/search_chunk_configuration.py") + " < " + input,
      &status);
  ASSERT_EQ(status, 0) << output;
  std::istringstream lines(output);
  int kept_gathered = 0, with_outliers = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + " of seed " + std::to_string(kSeed));
    std::string line;
    ASSERT_TRUE(std::getline(lines, line));
    std::istringstream fields(line);
    std::string limit_hex;
    int64_t chunk = 0, waste = 0, start = 0, dropped = 0;
    fields >> limit_hex >> chunk >> waste >> start >> dropped;
    ASSERT_NE(limit_hex, "error");  // one group: the smallest size is never above the limit
    EXPECT_EQ(NumpyOutlierLimit(c.sizes), std::strtod(limit_hex.c_str(), nullptr));

    std::vector<TensorSpec> tensors;
    for (size_t t = 0; t < c.sizes.size(); ++t) {
      tensors.push_back({"t" + std::to_string(t), c.sizes[t]});
    }
    ChunkSearchOptions options;
    options.min_chunk_size = *ElementsFromMebi(c.min_m, "min");
    options.search_range = *ElementsFromMebi(c.range_m, "range");
    options.search_interval = c.interval;
    options.dp_shards = c.dp;
    options.filter_exlarge_params = c.filter;
    const StatusOr<ChunkSearchResult> r = SearchChunkSize(tensors, options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->chunk_size, chunk);
    if (start < 0) {
      ++kept_gathered;
      EXPECT_TRUE(r->keep_gathered);
      continue;
    }
    EXPECT_FALSE(r->keep_gathered);
    EXPECT_EQ(r->search_waste, waste);
    EXPECT_EQ(r->first_candidate, start);
    EXPECT_EQ(static_cast<int64_t>(r->outliers.size()), dropped);
    with_outliers += dropped > 0;
  }
  // The cases reach both branches.
  EXPECT_GT(kept_gathered, 10);
  EXPECT_GT(with_outliers, 10);
}

}  // namespace
}  // namespace twinsim::placement
