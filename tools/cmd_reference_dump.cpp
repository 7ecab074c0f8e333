// mmengine reference-dump: one training-mode forward/backward of a WideResNet, written out for
// tools/reference/wrn_reference.py to repeat in PyTorch.
#include <sys/stat.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/checkpoint.h"
#include "layers/wideresnet.h"
#include "tools/commands.h"

namespace mmengine {

void add_reference_dump_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("reference-dump", "write a WRN step for the PyTorch parity script");
  struct Opts {
    std::string out, device = "auto", dtype = "f32";
    int64_t depth = 28, widen = 2, batch = 8, classes = 10, seed = 1;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->add_option("--device", o->device, "auto, cpu or cuda");
  cmd->add_option("--dtype", o->dtype, "f32 or f64")->check(CLI::IsMember({"f32", "f64"}));
  cmd->add_option("--depth", o->depth, "WRN depth (6n+4)");
  cmd->add_option("--widen", o->widen, "WRN widen factor");
  cmd->add_option("--batch", o->batch, "batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "seed")->check(unsigned_64());
  cmd->callback([o, &action] {
    action = [o] {
      Device dev = resolve_device(o->device);
      DType dt = o->dtype == "f32" ? DType::F32 : DType::F64;
      ::mkdir(o->out.c_str(), 0755);
      WideResNetConfig cfg;
      cfg.depth = o->depth;
      cfg.widen_factor = o->widen;
      cfg.num_classes = o->classes;
      cfg.dtype = dt;
      cfg.seed = static_cast<uint64_t>(o->seed);
      WideResNet net(cfg);
      save_module(o->out + "/model.safetensors", net);
      net.to(dev);
      Tensor x = rand_normal({o->batch, 3, 32, 32}, cfg.seed + 1, 0, dt, dev);
      std::vector<double> labels(o->batch), onehot(o->batch * o->classes, 0.0);
      for (int64_t i = 0; i < o->batch; ++i) {
        labels[i] = static_cast<double>(i % o->classes);
        onehot[i * o->classes + i % o->classes] = 1.0;
      }
      Tensor target = Tensor::from_vector(onehot, {o->batch, o->classes}, dt, dev);
      Tensor logits = net(x);
      Tensor loss = neg(mean(sum(mul(log_softmax(logits), target), 1)));
      loss.backward();
      std::vector<std::pair<std::string, Tensor>> t{{"input", x},
                                                    {"labels", Tensor::from_vector(labels, {o->batch}, dt)},
                                                    {"logits", logits.detach()},
                                                    {"loss", loss.detach()},
                                                    {"cfg.eps", Tensor::from_vector({cfg.bn_eps}, {1}, DType::F64)}};
      // The quirk's unused bn1 parameters get no gradient: written as zeros (PyTorch: None).
      for (auto& [name, p] : net.named_parameters())
        t.emplace_back("grad." + name, p->grad().defined() ? p->grad() : Tensor::zeros(p->shape(), dt, dev));
      for (auto& [name, b] : net.named_buffers()) t.emplace_back("after." + name, *b);
      save_safetensors(o->out + "/io.safetensors", t,
                       {{"cfg.depth", o->depth}, {"cfg.widen", o->widen}, {"cfg.classes", o->classes},
                        {"cfg.conv_bias", cfg.conv_bias ? 1 : 0}});
      std::printf("wrote %s/model.safetensors and %s/io.safetensors (loss %.6f on %s)\n", o->out.c_str(),
                  o->out.c_str(), loss.item(), device_name(dev));
      return 0;
    };
  });
}

}  // namespace mmengine
