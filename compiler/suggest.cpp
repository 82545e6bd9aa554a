#include "compiler/suggest.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace rtd {

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    const std::size_t n = a.size(), m = b.size();
    // Three rolling rows are enough for the transposition case.
    std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (std::size_t j = 0; j <= m; ++j) prev[j] = j;
    for (std::size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= m; ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates)
{
    if (word.empty()) return std::nullopt;
    // No edits for one- and two-letter words (everything is one edit away),
    // one for short words, about a third of the word for long ones.
    const std::size_t limit = word.size() <= 2 ? 0 : std::max<std::size_t>(1, word.size() / 3);
    std::optional<std::string> best;
    std::size_t best_distance = limit + 1;
    for (const std::string& c : candidates) {
        if (c == word) continue;
        // Cheap length filter first: the distance is at least the length gap.
        std::size_t gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
        if (gap >= best_distance) continue;
        std::size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    if (!best) {
        // A case-only difference ("NF_drop") is always worth suggesting.
        for (const std::string& c : candidates) {
            if (c != word && c.size() == word.size() &&
                std::equal(c.begin(), c.end(), word.begin(), [](char x, char y) {
                    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
                }))
                return c;
        }
    }
    return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates)
{
    auto m = closest_match(word, candidates);
    return m ? fmt::format("did you mean '{}'?", *m) : std::string();
}

}  // namespace rtd
