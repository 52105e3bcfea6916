#pragma once
// What the CLI works out before it asks the daemon: which apps a `--status` picks, which
// config file `tend start` with no file means. Pure, apart from findDefaultConfig's look at
// the folder.

#include <nlohmann/json.hpp>

#include <expected>
#include <string>
#include <vector>

namespace tend {

// The statuses `--status` takes (SPEC.md's, as `tend list` shows them).
const std::vector<std::string>& instanceStatuses();

// The apps of `list` (one object per instance, as the daemon's `list` gives) whose every
// instance has `status`, in list order, each once. An app with one instance errored and
// one online is not errored as a whole, so `tend delete --status errored` leaves it.
std::vector<std::string> appsInStatus(const nlohmann::json& list, const std::string& status);

// The names `tend start` with no file looks for, in order (SPEC.md's "With no FILE").
// Procfile is not among them: tend does not read Procfiles.
const std::vector<std::string>& defaultConfigNames();

// The path of the first of defaultConfigNames() that is a regular file in `dir` (as
// `dir/name`, or just `name` when dir is "."), or an error listing the names looked for.
std::expected<std::string, std::string> findDefaultConfig(const std::string& dir);

}  // namespace tend
