// Drains a BPF ring buffer on a native thread and hands JavaScript whole batches: one Buffer holding many
// records back to back (each begins with its ks_header, whose size field delimits it), one JS call per batch.
//
// Flow control never drops in user space: the bytes handed to JS and not yet taken (queued_bytes) never exceed
// maxQueuedBytes by more than one record. Each read of the ring is given the room left under that bound and stops
// when it is spent (one ring_buffer__consume() would otherwise drain a ring that a storm keeps refilling, however
// much JS already has waiting); with no room left the thread stops reading, the kernel ring fills, and the BPF
// side counts what it could not reserve (the `drops` map). pause() uses the same path on purpose, so the kernel's
// drop accounting can be tested.
//
// The thread stops on its own only on a failure (epoll_wait or ring_buffer__consume failing, an allocation
// failing; the addon builds without C++ exceptions, so there are no others). It then records why in stats() and
// calls options.onStopped(reason, errno) once on the JS thread; records it had read and not yet handed over are
// counted as undelivered, so nothing it took from the ring goes uncounted.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "addon_state.h"

struct ring_buffer;

namespace kubesentry {

// A batch of records, or with data == nullptr and failure set, the thread's notice that it stopped on a failure.
struct Batch {
  uint8_t* data;
  size_t size;
  uint64_t records;
  const char* failure = nullptr;
  int failure_errno = 0;
};

// Why the thread stopped on its own: what failed (a static string) and the errno it failed with.
struct ReaderFailure {
  const char* what = nullptr;
  int error = 0;
};

struct ReaderShared {
  std::mutex mutex;
  std::condition_variable changed;
  bool stop = false;
  bool paused = false;
  bool parked = false;  // the thread acknowledged a pause and is not reading
  bool exited = false;  // the thread has returned (asked to stop, or failed)
  bool closed = false;  // JS side closed: batches still in flight are freed, not delivered
  uint64_t queued_bytes = 0;
  uint64_t max_queued_bytes = 0;
  uint64_t queued_bytes_high_water = 0;
  ReaderFailure failure;
  // Counters, read from JS through stats().
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> flow_control_waits{0};
  // Batches (and their records) freed without reaching JS: in flight at close() or environment teardown, or read
  // by a thread that then failed before it could hand them over.
  std::atomic<uint64_t> undelivered_batches{0};
  std::atomic<uint64_t> undelivered_records{0};
};

// What the thread-safe function carries to the JS thread besides the batch callback; freed by its finaliser there.
struct DeliveryContext {
  std::shared_ptr<ReaderShared> shared;
  Napi::FunctionReference on_stopped;  // empty when JS passed no onStopped
};

void DeliverBatch(Napi::Env env, Napi::Function callback, DeliveryContext* context, Batch* batch);
using BatchFunction = Napi::TypedThreadSafeFunction<DeliveryContext, Batch, DeliverBatch>;

class RingBufferReader : public Napi::ObjectWrap<RingBufferReader>, public Closable {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RingBufferReader(const Napi::CallbackInfo& info);
  ~RingBufferReader() override;
  void CloseResources() override;

 private:
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void Run();
  // The read loop; returns when asked to stop (failure_.what null) or on a failure (failure_ says which).
  void ReadUntilStopped();
  static int OnRecord(void* context, void* data, size_t size);
  bool AppendRecord(const void* data, size_t size);
  bool Flush();
  void Fail(const char* what, int error);
  void ReportFailure();
  void Wake();
  void DrainWakeFd();
  bool WaitUntil(std::chrono::steady_clock::time_point due);

  std::shared_ptr<ReaderShared> shared_;
  BatchFunction deliver_;
  std::thread thread_;
  ring_buffer* ring_ = nullptr;
  int map_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int poll_interval_ms_ = 100;
  size_t max_batch_bytes_ = 1 << 20;
  // A wakeup that follows a read of fewer bytes than this within poll_interval_ms_ waits out the interval.
  size_t coalesce_below_bytes_ = 0;
  // Bytes read by the current ring_buffer__consume(), and the room under max_queued_bytes it may fill.
  size_t read_bytes_ = 0;
  uint64_t read_budget_ = 0;
  bool budget_spent_ = false;
  ReaderFailure failure_;
  // current_ counts what scratch_ holds; its data pointer stays null (the batch gets its own copy on Flush).
  Batch current_ = {nullptr, 0, 0};
  uint8_t* scratch_ = nullptr;
  size_t scratch_capacity_ = 0;
  bool running_ = false;
};

}  // namespace kubesentry
