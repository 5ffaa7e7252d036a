#include "kernel_error.h"

#include "addon_state.h"

#include <cstring>

namespace kubesentry {

Napi::Value ThrowKernelError(Napi::Env env, const char* code, int error_number, const std::string& message,
                             const std::string& log) {
  if (env.IsExceptionPending()) return env.Undefined();
  std::string full_message = message;
  if (error_number != 0) {
    full_message += ": ";
    full_message += strerror(error_number);
  }
  Napi::Object details = Napi::Object::New(env);
  details.Set("errno", Napi::Number::New(env, error_number));
  if (!log.empty()) details.Set("verifierLog", Napi::String::New(env, log));

  AddonState* state = GetAddonState(env);
  if (state != nullptr && !state->kernel_error_class.IsEmpty()) {
    Napi::Object error = state->kernel_error_class.New(
        {Napi::String::New(env, code), Napi::String::New(env, full_message), details});
    if (!env.IsExceptionPending()) Napi::Error(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Error error = Napi::Error::New(env, full_message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, error_number));
  if (!log.empty()) error.Set("verifierLog", Napi::String::New(env, log));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "setErrorClass(constructor) expects a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  GetAddonState(env)->kernel_error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace kubesentry
