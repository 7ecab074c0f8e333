#include "data/stream.h"

#include "kernels/error.h"
#include "engine/rng.h"

namespace mmengine {

IndexStream::IndexStream(std::vector<int64_t> items, int64_t batch, uint64_t seed, uint64_t stream, const char* what)
    : items_(std::move(items)), batch_(batch), seed_(seed), stream_(stream) {
  MM_CHECK(batch > 0, "--batch-size: must be positive, got ", batch);
  MM_CHECK(static_cast<int64_t>(items_.size()) >= batch, "--batch-size ", batch, " is larger than the ", items_.size(),
           " ", what, " images");
  reshuffle();
}

void IndexStream::reshuffle() {
  order_ = random_permutation(static_cast<int64_t>(items_.size()), seed_, (stream_ << 32) + static_cast<uint64_t>(pos_.pass));
}

void IndexStream::seek(Position p) {
  MM_CHECK(p.pass >= 0 && p.offset >= 0 && p.offset <= static_cast<int64_t>(items_.size()), "bad stream position");
  pos_ = p;
  reshuffle();
}

std::vector<int64_t> IndexStream::next() {
  if (pos_.offset + batch_ > static_cast<int64_t>(items_.size())) {  // drop_last, then a new pass
    pos_.pass++;
    pos_.offset = 0;
    reshuffle();
  }
  std::vector<int64_t> out(batch_);
  for (int64_t i = 0; i < batch_; ++i) out[i] = items_[order_[pos_.offset + i]];
  pos_.offset += batch_;
  return out;
}

MixMatchLoader::MixMatchLoader(const ImageDataset& train, const Split& split, int64_t batch, int K, uint64_t seed,
                               Device device, int prefetch, int64_t pad, DType dtype)
    : train_(train),
      labeled_(split.labeled, batch, seed, 11, "labeled"),
      unlabeled_(split.unlabeled, batch, seed, 12, "unlabeled"),
      batch_(batch),
      K_(K),
      seed_(seed),
      device_(device),
      prefetch_(prefetch),
      pad_(pad),
      dtype_(dtype) {
  MM_CHECK(K >= 1, "--K: must be >= 1, got ", K);
  MM_CHECK(prefetch >= 0, "prefetch depth must be >= 0");
  produced_.labeled = labeled_.position();
  produced_.unlabeled = unlabeled_.position();
  consumed_ = produced_;
  start();
}

MixMatchLoader::~MixMatchLoader() { stop(); }

MixMatchLoader::Raw MixMatchLoader::produce() {
  Raw r;
  r.before = produced_;
  auto li = labeled_.next();
  auto ui = unlabeled_.next();
  r.x = gather_images(train_, li);
  r.u = gather_images(train_, ui);
  for (auto i : li) r.labels.push_back(train_.labels[i]);
  produced_.step++;
  produced_.labeled = labeled_.position();
  produced_.unlabeled = unlabeled_.position();
  r.after = produced_;
  if (device_ == Device::CPU) {  // augment here, off the training thread
    Raw done;
    done.before = r.before;
    done.after = r.after;
    StepBatch b = finish(std::move(r));
    done.labels = std::move(b.labels);
    done.ready.push_back(b.x);
    done.ready.insert(done.ready.end(), b.u.begin(), b.u.end());
    return done;
  }
  return r;
}

StepBatch MixMatchLoader::finish(Raw r) {
  StepBatch b;
  b.step = r.before.step;
  b.labels = std::move(r.labels);
  if (!r.ready.empty()) {
    b.x = r.ready[0];
    b.u.assign(r.ready.begin() + 1, r.ready.end());
    return b;
  }
  AugmentDraw d;
  d.seed = seed_;
  d.step = static_cast<uint64_t>(b.step);
  d.pad = pad_;
  d.tag = kLabeledTag;
  b.x = augment_images(r.x, batch_, train_, d, device_, dtype_);
  for (int k = 0; k < K_; ++k) {
    d.tag = kUnlabeledTag + static_cast<uint32_t>(k);
    b.u.push_back(augment_images(r.u, batch_, train_, d, device_, dtype_));
  }
  return b;
}

void MixMatchLoader::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || static_cast<int>(queue_.size()) < prefetch_; });
      if (stopping_) return;
    }
    Raw r;
    try {
      r = produce();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(r));
    cv_.notify_all();
  }
}

void MixMatchLoader::start() {
  stopping_ = false;
  if (prefetch_ > 0) worker_ = std::thread([this] { run(); });
}

void MixMatchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  queue_.clear();
}

StepBatch MixMatchLoader::next() {
  Raw r;
  if (prefetch_ == 0) {
    r = produce();
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    r = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
  }
  consumed_ = r.after;
  return finish(std::move(r));
}

void MixMatchLoader::seek(const LoaderPosition& p) {
  stop();
  labeled_.seek(p.labeled);
  unlabeled_.seek(p.unlabeled);
  produced_ = p;
  consumed_ = p;
  start();
}

}  // namespace mmengine
