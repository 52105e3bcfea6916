#include <algorithm>
#include <string>
#include <vector>

#include "common/text.hpp"
#include "config/config.hpp"

namespace tend {
namespace {

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, each
// costing one edit ("restrat" -> "restart" is one edit, not two).
size_t editDistance(const std::string& a, const std::string& b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

}  // namespace

std::string suggestNearest(const std::string& word, const std::vector<std::string>& candidates) {
  // Long inputs cannot be typos of a config key and would only cost time.
  if (word.empty() || word.size() > 256) return "";
  const std::string lower = toLower(word);
  const size_t threshold = std::max<size_t>(2, lower.size() / 3);
  std::string best;
  size_t best_distance = threshold + 1;
  for (const std::string& candidate : candidates) {
    if (candidate.size() > 256) continue;
    const size_t distance = editDistance(lower, toLower(candidate));
    // A "suggestion" that shares nothing with the word (every letter replaced) is noise.
    if (distance >= std::max(lower.size(), candidate.size())) continue;
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

}  // namespace tend

namespace tend {

std::vector<std::string> suggestSeveral(const std::string& word,
                                        const std::vector<std::string>& candidates) {
  if (word.empty() || word.size() > 256) return {};
  const std::string lower = toLower(word);
  const size_t close = std::max<size_t>(1, lower.size() / 3);
  std::vector<std::pair<size_t, std::string>> found;
  for (const std::string& candidate : candidates) {
    if (candidate.size() > 256) continue;
    const std::string other = toLower(candidate);
    const size_t distance = editDistance(lower, other);
    if (distance == 0) continue;
    // A typo (an edit or so away), or the start of the word: "stat" -> start, status.
    if (distance <= close || (lower.size() >= 2 && other.starts_with(lower)))
      found.emplace_back(distance, candidate);
  }
  std::ranges::stable_sort(found, {}, [](const auto& f) { return f.first; });
  std::vector<std::string> out;
  for (auto& [d, c] : found)
    if (std::ranges::find(out, c) == out.end()) out.push_back(std::move(c));
  if (out.empty())
    if (std::string nearest = suggestNearest(word, candidates); !nearest.empty())
      out.push_back(std::move(nearest));
  return out;
}

}  // namespace tend
