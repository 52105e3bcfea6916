#pragma once
// The dashboard's files (src/api/dashboard/), built into the binary: nothing is fetched at
// run time and nothing but CMake is needed to build them in (see embed_assets.cmake).

#include <string_view>

namespace tend {

struct DashboardAsset {
  const char* content_type;
  std::string_view body;
};

// "index.html", "app.js", "app.css"; nullptr for any other name.
const DashboardAsset* dashboardAsset(std::string_view name);

}  // namespace tend
