#include "mixmatch/bn_probe.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "data/augment.h"
#include "data/split.h"
#include "data/stream.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/runtime.h"
#include "engine/safetensors.h"
#include "layers/bn_recorder.h"
#include "layers/checkpoint.h"
#include "layers/wideresnet.h"
#include "mixmatch/guess.h"
#include "mixmatch/interleave.h"
#include "mixmatch/mixup.h"
#include "mixmatch/model_config.h"
#include "mixmatch/run_settings.h"

namespace mmengine {

void merge_moments(BnLayerStats& into, const std::vector<double>& mean, const std::vector<double>& var, int64_t n) {
  if (into.count == 0) {
    into.mean = mean;
    into.var = var;
    into.count = n;
    return;
  }
  const double na = static_cast<double>(into.count), nb = static_cast<double>(n), total = na + nb;
  for (size_t c = 0; c < mean.size(); ++c) {
    const double delta = mean[c] - into.mean[c];
    const double m2 = into.var[c] * na + var[c] * nb + delta * delta * na * nb / total;
    into.mean[c] += delta * nb / total;
    into.var[c] = m2 / total;
  }
  into.count += n;
}

namespace {
const std::vector<std::string> kModes{"labeled", "unlabeled", "separate:labeled", "separate:unlabeled", "interleaved",
                                      "single"};

std::pair<double, double> deviation(const BnLayerStats& pop, const std::vector<double>& mean,
                                    const std::vector<double>& var) {
  double dm = 0, dv = 0;
  for (size_t c = 0; c < mean.size(); ++c) {
    const double sd = std::sqrt(std::max(pop.var[c], 1e-30));
    dm += std::fabs(mean[c] - pop.mean[c]) / sd;
    dv += std::fabs(std::log(std::max(var[c], 1e-30) / std::max(pop.var[c], 1e-30)));
  }
  return {dm / mean.size(), dv / mean.size()};
}
}  // namespace

BnProbeResult run_bn_probe(const BnProbeConfig& cfg) {
  const Device dev = resolve_device(cfg.device);
  RunSettings run{cfg.dataset, "port", cfg.depth, cfg.widen, cfg.labels, cfg.val_per_class, cfg.seed, cfg.bn_eps, cfg.conv_bias};
  TensorFile file;
  if (!cfg.checkpoint.empty()) {
    file = load_safetensors(cfg.checkpoint);
    apply_checkpoint_settings(file.metadata, cfg.checkpoint, cfg.given, run);
  }
  check_wrn_size(run.depth, run.widen);  // before the dataset is loaded: a bad --depth fails at once
  TrainTest data = load_dataset(run.dataset, cfg.data_dir);
  Split sets = split_dataset(data.train, run.labels, run.val_per_class, run.seed);
  WideResNet net(wrn_for(data.train, run.depth, run.widen, run.bn_eps, run.conv_bias, run.seed));
  if (!cfg.checkpoint.empty()) load_module_state(file, cfg.checkpoint, net, "", true);
  net.cast(DType::F64);  // every statistic below in float64
  net.to(dev);
  net.train();
  BnRecorder rec;
  net.set_bn_recorder(&rec);
  ForwardOptions frozen;
  frozen.update_running_stats = false;
  NoGrad ng;
  BnProbeResult r;
  for (auto* bn : net.batchnorms()) r.layers.push_back(bn->name());
  r.modes = kModes;

  // Population statistics over the training images.
  std::vector<int64_t> train_idx = sets.labeled;
  train_idx.insert(train_idx.end(), sets.unlabeled.begin(), sets.unlabeled.end());
  std::sort(train_idx.begin(), train_idx.end());
  if (cfg.population_images > 0 && static_cast<int64_t>(train_idx.size()) > cfg.population_images)
    train_idx.resize(cfg.population_images);
  r.population_images = static_cast<int64_t>(train_idx.size());
  frozen.tag = "population";
  for (size_t b = 0; b < train_idx.size(); b += cfg.population_batch) {
    std::vector<int64_t> idx(train_idx.begin() + b,
                             train_idx.begin() + std::min(train_idx.size(), b + static_cast<size_t>(cfg.population_batch)));
    if (idx.size() < 2) continue;
    rec.clear();
    net(normalized_images(data.train, idx, dev, DType::F64), frozen);
    for (auto& rc : rec.records()) merge_moments(r.population[rc.layer], rc.mean, rc.var, rc.count);
  }

  // Batches as a MixMatch step sees them.
  std::map<std::string, std::map<std::string, std::pair<double, double>>> sums;
  std::map<std::string, std::map<std::string, int64_t>> counts;
  MixMatchLoader loader(data.train, sets, cfg.batch_size, 2, run.seed, dev, 0, 4, DType::F64);
  for (int64_t b = 0; b < cfg.batches; ++b) {
    StepBatch batch = loader.next();
    rec.clear();
    const int64_t B = batch.x.size(0);
    auto fwd = [&](const Tensor& x, const char* tag) {
      ForwardOptions o = frozen;
      o.tag = tag;
      return net(x, o);
    };
    fwd(batch.x, "labeled");
    fwd(batch.u[0], "unlabeled");
    ForwardOptions guess = frozen;
    guess.tag = "guess";
    Tensor q = guess_labels(net, batch.u, cfg.T, guess);
    Tensor all = concat({batch.x, batch.u[0], batch.u[1]});
    MixUpDraw draw = draw_mixup(all.size(0), cfg.alpha, run.seed, static_cast<uint64_t>(b));
    Tensor mixed = mix(all, draw);
    auto chunks = split(mixed, B);
    for (size_t i = 0; i < chunks.size(); ++i) fwd(chunks[i], i == 0 ? "separate:labeled" : "separate:unlabeled");
    for (auto& c : interleave(chunks, B)) fwd(c, "interleaved");
    fwd(mixed, "single");
    for (auto& rc : rec.records()) {
      if (rc.tag == "guess") continue;
      auto d = deviation(r.population.at(rc.layer), rc.mean, rc.var);
      auto& s = sums[rc.layer][rc.tag];
      s.first += d.first;
      s.second += d.second;
      counts[rc.layer][rc.tag]++;
    }
  }
  for (auto& [layer, by_mode] : sums)
    for (auto& [mode, s] : by_mode) {
      const double n = static_cast<double>(counts[layer][mode]);
      r.deviation[layer][mode] = {s.first / n, s.second / n};
    }
  for (auto* bn : net.batchnorms())
    r.running_gap[bn->name()] = deviation(r.population.at(bn->name()), bn->running_mean.to_vector(), bn->running_var.to_vector());
  net.set_bn_recorder(nullptr);
  return r;
}

std::string write_bn_probe(const BnProbeResult& r, const std::string& dir) {
  std::ostringstream csv, run, table;
  csv << "layer,mode,mean_normalized_deviation,mean_abs_log_var_ratio\n";
  run << "layer,running_mean_normalized_gap,running_abs_log_var_ratio\n";
  char line[512];
  std::snprintf(line, sizeof(line), "%-22s", "|mu_b-mu_pop|/sigma_pop");
  table << line;
  for (auto& m : r.modes) {
    std::snprintf(line, sizeof(line), " %12.12s", m.c_str());
    table << line;
  }
  table << " " << "     running\n";
  for (auto& layer : r.layers) {
    std::snprintf(line, sizeof(line), "%-22s", layer.c_str());
    table << line;
    for (auto& m : r.modes) {
      auto it = r.deviation.at(layer).find(m);
      const auto d = it == r.deviation.at(layer).end() ? std::pair<double, double>{NAN, NAN} : it->second;
      std::snprintf(line, sizeof(line), " %12.4f", d.first);
      table << line;
      csv << layer << "," << m << "," << d.first << "," << d.second << "\n";
    }
    const auto g = r.running_gap.at(layer);
    std::snprintf(line, sizeof(line), " %12.4f\n", g.first);
    table << line;
    run << layer << "," << g.first << "," << g.second << "\n";
  }
  table << "(mean over channels and batches; the last column: the running statistics; |log var ratio| in bn_probe.csv)\n";
  write_file_atomically(dir + "/bn_probe.csv", csv.str());
  write_file_atomically(dir + "/bn_running.csv", run.str());
  return table.str();
}

}  // namespace mmengine
