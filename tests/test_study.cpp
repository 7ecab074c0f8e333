// The study's commands: bn-probe statistics and the ablation grid.
#include <cmath>
#include <fstream>

#include "data/augment.h"
#include "data/split.h"
#include "engine/autograd.h"
#include "engine/ops_nn.h"
#include "layers/wideresnet.h"
#include "mixmatch/bn_probe.h"
#include "tests/test_util.h"

using namespace mmengine;
using namespace mmengine::testing;

TEST(BnProbe, MergedMomentsAreExact) {
  // Two batches {1, 2, 3} and {10, 20}: population mean 7.2, variance by hand.
  BnLayerStats s;
  merge_moments(s, {2.0}, {2.0 / 3.0}, 3);
  merge_moments(s, {15.0}, {25.0}, 2);
  const double mean = 36.0 / 5.0;
  double var = 0;
  for (double x : {1.0, 2.0, 3.0, 10.0, 20.0}) var += (x - mean) * (x - mean);
  EXPECT_NEAR(s.mean[0], mean, 1e-14);
  EXPECT_NEAR(s.var[0], var / 5.0, 1e-12);
  EXPECT_EQ(s.count, 5);
}

TEST(BnProbe, PopulationStatisticsMatchADirectFloat64Computation) {
  BnProbeConfig c;
  c.dataset = "synthetic";
  c.depth = 10;
  c.widen = 1;
  c.labels = 100;
  c.val_per_class = 50;
  c.batches = 2;
  c.batch_size = 16;
  c.population_batch = 97;  // uneven batches exercise the merge
  c.population_images = 300;
  c.device = "cpu";
  BnProbeResult r = run_bn_probe(c);
  ASSERT_EQ(r.population_images, 300);
  // The first BN reads conv1's output, which does not depend on any BN: compute it directly.
  TrainTest data = load_dataset("synthetic", "");
  Split s = split_dataset(data.train, 100, 50, 0);
  std::vector<int64_t> idx = s.labeled;
  idx.insert(idx.end(), s.unlabeled.begin(), s.unlabeled.end());
  std::sort(idx.begin(), idx.end());
  idx.resize(300);
  WideResNetConfig mc;
  mc.depth = 10;
  mc.widen_factor = 1;
  WideResNet net(mc);
  net.cast(DType::F64);
  Tensor w = *net.named_parameters()[0].second;  // conv1.weight
  NoGrad ng;
  auto y = conv2d(normalized_images(data.train, idx, Device::CPU, DType::F64), w, Tensor(), 1, 1).to_vector();
  const int64_t C = 16, HW = 16 * 16;
  const auto& pop = r.population.at("block1.layer.0.bn1");
  for (int64_t ch = 0; ch < C; ++ch) {
    double m = 0, v = 0;
    for (size_t n = 0; n < idx.size(); ++n)
      for (int64_t i = 0; i < HW; ++i) m += y[(n * C + ch) * HW + i];
    m /= static_cast<double>(idx.size() * HW);
    for (size_t n = 0; n < idx.size(); ++n)
      for (int64_t i = 0; i < HW; ++i) v += (y[(n * C + ch) * HW + i] - m) * (y[(n * C + ch) * HW + i] - m);
    v /= static_cast<double>(idx.size() * HW);
    EXPECT_NEAR(pop.mean[ch], m, 1e-12 * (1 + std::fabs(m)));
    EXPECT_NEAR(pop.var[ch], v, 1e-11 * v);
  }
  // Every layer has every mode, and the numbers are finite.
  for (auto& layer : r.layers)
    for (auto& mode : r.modes) {
      auto d = r.deviation.at(layer).at(mode);
      EXPECT_TRUE(std::isfinite(d.first) && std::isfinite(d.second)) << layer << " " << mode;
    }
}
