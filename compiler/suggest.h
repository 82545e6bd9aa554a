// "Did you mean" suggestions for misspelled keywords and names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtd {

// Optimal string alignment distance (Levenshtein plus adjacent swaps), so
// "captrue" is one edit from "capture".
std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate within a distance that scales with the word's
// length, or nothing when no candidate is plausibly what was meant.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

// "did you mean 'x'?" or an empty string.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace rtd
