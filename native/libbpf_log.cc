#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>

namespace kubesentry {

namespace {

thread_local std::string* active_sink = nullptr;

// A verifier log can be megabytes; only its end explains a rejection, so the sink keeps a bounded tail.
constexpr size_t kMaxCapturedBytes = 256 * 1024;

int PrintToActiveSink(enum libbpf_print_level level, const char* format, va_list args) {
  if (active_sink == nullptr || level == LIBBPF_DEBUG) return 0;
  char stack_buffer[1024];
  va_list copy;
  va_copy(copy, args);
  int needed = vsnprintf(stack_buffer, sizeof(stack_buffer), format, copy);
  va_end(copy);
  if (needed < 0) return 0;
  if (static_cast<size_t>(needed) < sizeof(stack_buffer)) {
    active_sink->append(stack_buffer, needed);
  } else {
    std::string large(static_cast<size_t>(needed) + 1, '\0');
    vsnprintf(large.data(), large.size(), format, args);
    large.resize(needed);
    active_sink->append(large);
  }
  if (active_sink->size() > kMaxCapturedBytes) {
    active_sink->erase(0, active_sink->size() - kMaxCapturedBytes);
  }
  return needed;
}

}  // namespace

void InstallLibbpfPrintCallback() { libbpf_set_print(PrintToActiveSink); }

LogCapture::LogCapture(std::string* sink) : previous_(active_sink) {
  sink->clear();
  active_sink = sink;
}

LogCapture::~LogCapture() { active_sink = previous_; }

std::string LogTail(const std::string& log, size_t max_bytes) {
  if (log.size() <= max_bytes) return log;
  size_t start = log.size() - max_bytes;
  size_t line_start = log.find('\n', start);
  if (line_start != std::string::npos && line_start + 1 < log.size()) start = line_start + 1;
  return log.substr(start);
}

}  // namespace kubesentry
