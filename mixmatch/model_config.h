// The WideResNet for a dataset: its class count and input channels come from the data; its size
// is checked first (check_wrn_size), so a huge --depth is an error, not an exhausted memory.
#pragma once
#include "data/dataset.h"
#include "layers/wideresnet.h"
#include "mixmatch/config.h"

namespace mmengine {

inline WideResNetConfig wrn_for(const ImageDataset& d, int64_t depth, int64_t widen, double bn_eps, bool conv_bias,
                                uint64_t seed) {
  check_wrn_size(depth, widen);
  WideResNetConfig mc;
  mc.depth = depth;
  mc.widen_factor = widen;
  mc.num_classes = d.num_classes;
  mc.in_channels = d.channels;
  mc.bn_eps = bn_eps;
  mc.conv_bias = conv_bias;
  mc.seed = seed;
  return mc;
}

}  // namespace mmengine
