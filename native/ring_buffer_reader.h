// Drains a BPF ring buffer on a native thread and hands JavaScript whole batches: one Buffer holding many
// records back to back (each begins with its ks_header, whose size field delimits it), one JS call per batch.
//
// Flow control never drops in user space: when JS has maxQueuedBytes waiting, the thread stops reading, the
// kernel ring fills, and the BPF side counts what it could not reserve (the `drops` map). pause() uses the same
// path on purpose, so the kernel's drop accounting can be tested.
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

struct Batch {
  uint8_t* data;
  size_t size;
  uint64_t records;
};

struct ReaderShared {
  std::mutex mutex;
  std::condition_variable changed;
  bool stop = false;
  bool paused = false;
  bool parked = false;  // the thread acknowledged a pause and is not reading
  bool closed = false;  // JS side closed: batches still in flight are freed, not delivered
  uint64_t queued_bytes = 0;
  uint64_t max_queued_bytes = 0;
  // Counters, read from JS through stats().
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> flow_control_waits{0};
  // Batches (and their records) freed without reaching JS: in flight at close() or environment teardown.
  std::atomic<uint64_t> undelivered_batches{0};
  std::atomic<uint64_t> undelivered_records{0};
  std::atomic<int> last_error{0};
};

void DeliverBatch(Napi::Env env, Napi::Function callback, std::shared_ptr<ReaderShared>* shared, Batch* batch);
using BatchFunction = Napi::TypedThreadSafeFunction<std::shared_ptr<ReaderShared>, Batch, DeliverBatch>;

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
  static int OnRecord(void* context, void* data, size_t size);
  void AppendRecord(const void* data, size_t size);
  void Flush();
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
  size_t read_bytes_ = 0;
  // current_ counts what scratch_ holds; its data pointer stays null (the batch gets its own copy on Flush).
  Batch current_ = {nullptr, 0, 0};
  uint8_t* scratch_ = nullptr;
  size_t scratch_capacity_ = 0;
  bool running_ = false;
};

}  // namespace kubesentry
