// Never-ending batch streams for MixMatch.
//
// IndexStream: batches of `batch` items from a fixed set, reshuffled every pass and never
// running dry (the seed's iterator reset: a DataLoader with shuffle=True and drop_last=True
// restarted whenever it is exhausted). Pass p uses the Philox permutation (seed, stream, p),
// so a stream position (pass, offset) fully determines what comes next.
//
// MixMatchLoader: for each training step, the labeled batch (augmented once) and the
// unlabeled batch (augmented K times independently), with augmentation keyed by
// (seed, step, slot, view). A background thread prepares the next steps into a bounded queue;
// what a step receives depends only on the step and the stream positions, never on timing.
#pragma once
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/split.h"

namespace mmengine {

class IndexStream {
 public:
  IndexStream(std::vector<int64_t> items, int64_t batch, uint64_t seed, uint64_t stream, const char* what);
  std::vector<int64_t> next();
  struct Position {
    int64_t pass = 0, offset = 0;
  };
  Position position() const { return pos_; }
  void seek(Position p);

 private:
  void reshuffle();
  std::vector<int64_t> items_, order_;
  int64_t batch_;
  uint64_t seed_, stream_;
  Position pos_;
};

struct StepBatch {
  int64_t step = 0;
  Tensor x;                    // labeled, [B, C, H, W], augmented once
  std::vector<int32_t> labels;
  std::vector<Tensor> u;       // K unlabeled views, each [B, C, H, W]
};

struct LoaderPosition {
  int64_t step = 0;
  IndexStream::Position labeled, unlabeled;
};

class MixMatchLoader {
 public:
  MixMatchLoader(const ImageDataset& train, const Split& split, int64_t batch, int K, uint64_t seed, Device device,
                 int prefetch = 2, int64_t pad = 4, DType dtype = DType::F32);
  ~MixMatchLoader();
  MixMatchLoader(const MixMatchLoader&) = delete;
  MixMatchLoader& operator=(const MixMatchLoader&) = delete;

  StepBatch next();
  LoaderPosition position() const { return consumed_; }  // where the next call continues
  void seek(const LoaderPosition& p);

 private:
  struct Raw {
    LoaderPosition before, after;
    std::vector<uint8_t> x, u;
    std::vector<int32_t> labels;
    std::vector<Tensor> ready;  // CPU runs: augmented already on the producer thread
  };
  Raw produce();
  StepBatch finish(Raw r);
  void start();
  void stop();
  void run();

  const ImageDataset& train_;
  IndexStream labeled_, unlabeled_;
  int64_t batch_;
  int K_;
  uint64_t seed_;
  Device device_;
  int prefetch_;
  int64_t pad_;
  DType dtype_;
  LoaderPosition produced_, consumed_;

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Raw> queue_;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace mmengine
