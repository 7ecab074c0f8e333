// The BatchNorm-statistics study (`mmengine bn-probe`): for every BN layer, the per-channel
// batch statistics that the BN kernels themselves record for batches that are labeled-only,
// unlabeled-only, the mixed labeled / unlabeled chunks of the separate mode, the interleaved
// chunks and the single pass, compared with the population statistics of that layer's input.
//
// Population statistics: the mean and (biased) variance of each BN layer's input over every
// training image (labeled and unlabeled, no augmentation), accumulated exactly in float64
// (Chan's merge of per-batch moments). The network runs in training mode with large batches
// (--population-batch, 500 by default), so each BN normalizes by statistics of 500 images,
// close to the population's own (as PreciseBN does); running statistics are never moved.
//
// Per layer and mode: mean over channels and batches of |mu_b - mu_pop| / sigma_pop and of
// |log(var_b / var_pop)|; per layer, the same two gaps for the running statistics.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace mmengine {

struct BnProbeConfig {
  std::string dataset = "cifar10", data_dir, checkpoint, device = "auto", out_dir = "runs/bn-probe";
  int64_t depth = 28, widen = 2, labels = 4000, val_per_class = 500, batch_size = 64, batches = 8;
  int64_t population_batch = 500, population_images = 0;  // 0: every training image
  uint64_t seed = 0;
  double T = 0.5, alpha = 0.75, bn_eps = 1e-5;
  bool conv_bias = false;
  // Which flags were given explicitly: a checkpoint's recorded settings (run_settings.h) replace
  // the others and must agree with these.
  std::function<bool(const char*)> given = [](const char*) { return false; };
};

struct BnLayerStats {
  std::vector<double> mean, var;  // per channel
  int64_t count = 0;              // values per channel merged
};

struct BnProbeResult {
  std::vector<std::string> layers, modes;
  std::map<std::string, BnLayerStats> population;  // by layer
  // [layer][mode] -> (mean normalized deviation, mean |log var ratio|)
  std::map<std::string, std::map<std::string, std::pair<double, double>>> deviation;
  std::map<std::string, std::pair<double, double>> running_gap;  // by layer
  int64_t population_images = 0;
};

BnProbeResult run_bn_probe(const BnProbeConfig& cfg);
// Writes bn_probe.csv and bn_running.csv into dir; returns the terminal table.
std::string write_bn_probe(const BnProbeResult& r, const std::string& dir);

// Chan et al.'s exact merge of (mean, biased variance, count) moments, in double.
void merge_moments(BnLayerStats& into, const std::vector<double>& mean, const std::vector<double>& var, int64_t count);

}  // namespace mmengine
