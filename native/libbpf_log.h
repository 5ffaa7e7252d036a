// libbpf reports everything (including verifier logs) through one process-wide print callback. To attribute
// messages to the object whose call produced them, a call installs a LogCapture for its duration; the callback
// appends to whichever capture is active on the calling thread and discards the rest (nothing goes to stderr).
#pragma once

#include <string>

namespace kubesentry {

void InstallLibbpfPrintCallback();

class LogCapture {
 public:
  explicit LogCapture(std::string* sink);
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

 private:
  std::string* previous_;
};

// The last lines of a captured log, bounded so an error message stays readable.
std::string LogTail(const std::string& log, size_t max_bytes = 4096);

}  // namespace kubesentry
