#pragma once
// ConfigNode: the format-independent tree that YAML, TOML and JSON files are read into,
// with the file position of every key and value, so one validator serves all formats and
// every error can name file, line and column.

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <utility>
#include <vector>

namespace tend {

struct Mark {
  int line = 0;    // 1-based; 0 when unknown (e.g. a spec sent over the control socket)
  int column = 0;  // 1-based
};

struct ConfigNode {
  enum class Kind { Null, Scalar, Map, Seq };
  Kind kind = Kind::Null;
  Mark mark;
  // Scalar: its text. TOML/JSON numbers and booleans are kept as their source text
  // ("42", "true") and `quoted` tells a string apart from a bare scalar.
  std::string scalar;
  bool quoted = false;
  struct Entry;            // a key, its position and its value; defined below
  std::vector<Entry> map;  // in source order
  std::vector<ConfigNode> seq;

  const ConfigNode* find(const std::string& key) const;
};

// Defined outside ConfigNode because it holds a ConfigNode, which is incomplete inside.
struct ConfigNode::Entry {
  std::string key;
  Mark key_mark;
  ConfigNode value;
};

// Builds a tree from parsed JSON (no positions): used for specs that arrive over the
// control socket and from the store.
ConfigNode fromJson(const nlohmann::json& j);

}  // namespace tend
