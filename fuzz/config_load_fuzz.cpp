// The config loaders through the validator (src/config/config.hpp, pm2.hpp): a file that
// `tend start` reads, in YAML, TOML or JSON, a tend config or a PM2 ecosystem, goes through
// loadConfigOrEcosystem, the CLI's own entry point. Whatever the bytes:
//   - nothing throws (config.hpp: failures are ConfigErrors, never exceptions);
//   - a refusal has at least one error, each with a message;
//   - every app of an accepted config has a canonical JSON form (toJson) that can be sent
//     to the daemon as it is (its text is valid UTF-8 JSON: the CLI dumps it strictly) and
//     that validates again, as the daemon and the store do, to the same canonical form.
//
// The input: one byte choosing the format (the file's extension), then the file. The file
// sits in a folder of its own with an env file (app.env) and an executable `server`, so
// that relative paths, env_file and PM2's bare script names have something to find.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.hpp"
#include "config/pm2.hpp"
#include "fuzz_check.hpp"

using namespace tend;

namespace {

std::string dir;

void writeFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  FUZZ_CHECK(out.good(), "the fuzz folder is writable");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/tend-fuzz-config-XXXXXX";
  FUZZ_CHECK(::mkdtemp(tmpl) != nullptr, "a temporary folder");
  dir = tmpl;
  writeFile(dir + "/app.env", "# comment\nexport A=1\nB=\"two words\"\nC='x'\n");
  writeFile(dir + "/server", "#!/bin/sh\nexit 0\n");
  ::chmod((dir + "/server").c_str(), 0755);
  std::atexit([] { std::system(("rm -rf '" + dir + "'").c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::text(data, size);
  static const char* const kNames[] = {"tend.yaml", "tend.toml", "tend.json"};
  const std::string path = dir + "/" + kNames[fuzz::takeByte(in) % 3];
  writeFile(path, in);

  std::expected<LoadedConfig, ConfigErrors> loaded;
  try {
    loaded = loadConfigOrEcosystem(path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    FUZZ_CHECK(false, "loadConfigOrEcosystem throws nothing");
  }
  if (!loaded) {
    FUZZ_CHECK(!loaded.error().empty(), "a refused config has an error");
    for (const ConfigError& e : loaded.error()) {
      FUZZ_CHECK(!e.message.empty(), "every error has a message");
    }
    return 0;
  }
  for (const AppSpec& app : loaded->config.apps) {
    const nlohmann::json canonical = toJson(app);
    try {
      (void)canonical.dump();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "app '%s': %s\n", app.name.c_str(), e.what());
      FUZZ_CHECK(false, "the canonical JSON of a valid app can be sent as it is");
    }
    auto again = validateApp(fromJson(canonical), "", "/");
    if (!again) std::fprintf(stderr, "%s\n", again.error().front().format().c_str());
    FUZZ_CHECK(again.has_value(), "the canonical JSON of a valid app validates again");
    FUZZ_CHECK(toJson(*again) == canonical, "and gives the same canonical JSON");
  }
  return 0;
}
