// Native failures become the TypeScript KernelError class (registered once by src/receiver/kernel.ts through
// setErrorClass) so callers can rely on `code`, `errno` and `verifierLog` whatever layer failed.
#pragma once

#include <napi.h>

#include <string>

namespace kubesentry {

// Throws unless an exception is already pending (a pending one is the more accurate report). Returns undefined
// so call sites can `return ThrowKernelError(...)`.
Napi::Value ThrowKernelError(Napi::Env env, const char* code, int error_number, const std::string& message,
                             const std::string& log = "");

Napi::Value SetErrorClass(const Napi::CallbackInfo& info);

}  // namespace kubesentry
