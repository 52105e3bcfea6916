#include "config/config_node.hpp"

#include <nlohmann/json.hpp>

namespace tend {

const ConfigNode* ConfigNode::find(const std::string& key) const {
  if (kind != Kind::Map) return nullptr;
  for (const Entry& entry : map)
    if (entry.key == key) return &entry.value;
  return nullptr;
}

ConfigNode fromJson(const nlohmann::json& j) {
  ConfigNode node;
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      node.kind = ConfigNode::Kind::Null;
      break;
    case nlohmann::json::value_t::string:
      node.kind = ConfigNode::Kind::Scalar;
      node.scalar = j.get_ref<const std::string&>();
      node.quoted = true;
      break;
    case nlohmann::json::value_t::boolean:
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      // dump() keeps floats recognisable as floats ("2.0"), so an integer field rejects them.
      node.kind = ConfigNode::Kind::Scalar;
      node.scalar = j.dump();
      break;
    case nlohmann::json::value_t::binary:
      node.kind = ConfigNode::Kind::Scalar;
      node.scalar = "<binary>";
      break;
    case nlohmann::json::value_t::object:
      node.kind = ConfigNode::Kind::Map;
      for (const auto& [key, value] : j.items())
        node.map.push_back(ConfigNode::Entry{key, Mark{}, fromJson(value)});
      break;
    case nlohmann::json::value_t::array:
      node.kind = ConfigNode::Kind::Seq;
      for (const auto& value : j) node.seq.push_back(fromJson(value));
      break;
  }
  return node;
}

}  // namespace tend
