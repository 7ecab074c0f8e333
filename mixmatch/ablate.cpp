#include "mixmatch/ablate.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/error.h"
#include "engine/safetensors.h"
#include "mixmatch/config.h"
#include "mixmatch/trainer.h"

namespace mmengine {

namespace {
std::vector<std::string> split_list(const std::string& s, const char* flag) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  MM_CHECK(!out.empty(), flag, ": empty list");
  return out;
}

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) out.push_back(f);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

std::string mean_std(const std::vector<double>& v, int precision = 2) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= v.size();
  for (double x : v) s += (x - m) * (x - m);
  char b[64];
  if (v.size() > 1) std::snprintf(b, sizeof(b), "%.*f ± %.*f", precision, m, precision, std::sqrt(s / (v.size() - 1)));
  else std::snprintf(b, sizeof(b), "%.*f", precision, m);
  return b;
}
}  // namespace

double test_at_best_validation(const std::string& path, const std::string& who) {
  std::ifstream in(path);
  MM_CHECK(in.good(), path, ": cannot open");
  std::string line;
  std::getline(in, line);
  auto header = split_csv_line(line);
  auto col = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    MM_FAIL(path, ": no column ", name);
  };
  const int val = col("val_acc_" + who), test = col("test_acc_" + who);
  double best_val = -1, at_best = -1;
  while (std::getline(in, line)) {
    auto f = split_csv_line(line);
    if (static_cast<int>(f.size()) <= std::max(val, test) || f[val].empty()) continue;
    const double v = std::atof(f[val].c_str());
    if (v > best_val) best_val = v, at_best = std::atof(f[test].c_str());
  }
  return at_best;
}

AblateResult run_ablation(const AblateConfig& a) {
  MM_CHECK(a.seeds >= 1, "--seeds: must be >= 1, got ", a.seeds);
  MM_CHECK(a.steps >= 0 && a.eval_every_steps >= 0, "--steps and --eval-every-steps: must be positive");
  const auto recipes = split_list(a.recipes, "--recipes"), modes = split_list(a.modes, "--modes"),
             emas = split_list(a.emas, "--ema");
  for (auto& m : modes)
    MM_CHECK(m == "interleave" || m == "separate" || m == "single" || m == "single-sqrt", "--modes: unknown cell '", m,
             "', expected interleave, separate, single or single-sqrt");
  for (auto& e : emas) MM_CHECK(e == "on" || e == "off", "--ema: expected on and/or off, got '", e, "'");
  ::mkdir(a.out_dir.c_str(), 0755);
  AblateResult result;
  for (auto& recipe : recipes)
    for (auto& mode : modes)
      for (auto& ema : emas)
        for (int seed = 0; seed < a.seeds; ++seed) {
          TrainConfig c;
          apply_preset(a.preset, c);
          apply_recipe(recipe, c);
          if (!a.dataset.empty()) c.dataset = a.dataset;
          if (!a.data_dir.empty()) c.data_dir = a.data_dir;
          if (a.labels > 0) c.labels = a.labels;
          if (a.max_eval_images >= 0) c.max_eval_images = a.max_eval_images;
          if (a.depth > 0) c.depth = a.depth;
          if (a.widen > 0) c.widen = a.widen;
          const int64_t steps = a.steps > 0 ? a.steps : c.total_steps();
          const int64_t every = a.eval_every_steps > 0 ? a.eval_every_steps : std::max<int64_t>(1, steps / 4);
          MM_CHECK(steps % every == 0, "--steps ", steps, " must be a multiple of --eval-every-steps ", every);
          c.steps_per_epoch = every;
          c.epochs = steps / every;
          c.eval_every = c.checkpoint_every = 1;
          c.bn_mode = parse_bn_mode(mode == "single-sqrt" ? "single" : mode);
          c.lr_scale_sqrt = mode == "single-sqrt";
          c.ema = ema == "on";
          c.seed = static_cast<uint64_t>(seed);
          c.device = a.device;
          AblateRun run{recipe, mode, ema, a.out_dir + "/" + recipe + "/" + mode + "-ema-" + ema + "-seed" + std::to_string(seed)};
          run.seed = c.seed;
          c.out_dir = run.dir;
          run.reused = run_complete(run.dir);
          if (!run.reused) {
            ::mkdir((a.out_dir + "/" + recipe).c_str(), 0755);
            c.resume = exists(last_checkpoint_path(run.dir));
            std::printf("== ablate: %s / %s / EMA %s / seed %d%s ==\n", recipe.c_str(), mode.c_str(), ema.c_str(), seed,
                        c.resume ? " (resuming)" : "");
            train_mixmatch(c);
          } else {
            std::printf("== ablate: %s / %s / EMA %s / seed %d: complete, reused ==\n", recipe.c_str(), mode.c_str(),
                        ema.c_str(), seed);
          }
          std::ifstream sj(run.dir + "/summary.json");
          nlohmann::json s = nlohmann::json::parse(sj);
          run.final_teacher = s["final_teacher_test"];
          run.final_student = s["final_student_test"];
          run.seconds = s["seconds"];
          run.teacher_at_best = test_at_best_validation(run.dir + "/metrics.csv", "teacher");
          run.student_at_best = test_at_best_validation(run.dir + "/metrics.csv", "student");
          result.runs.push_back(run);
        }

  std::ostringstream csv, md;
  csv << "recipe,bn_mode,ema,seed,teacher_test_at_best_val,student_test_at_best_val,final_teacher_test,final_student_test,"
         "seconds,dir\n";
  for (auto& r : result.runs)
    csv << r.recipe << "," << r.mode << "," << r.ema << "," << r.seed << "," << r.teacher_at_best << "," << r.student_at_best
        << "," << r.final_teacher << "," << r.final_student << "," << r.seconds << "," << r.dir << "\n";
  write_file_atomically(a.out_dir + "/ablate.csv", csv.str());
  md << "| recipe | BN mode | EMA | teacher test @ best val (%) | student test @ best val (%) | final teacher (%) | final "
        "student (%) | wall time (s) | seeds |\n|---|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, std::vector<const AblateRun*>> cells;
  std::vector<std::string> order;
  for (auto& r : result.runs) {
    const std::string key = r.recipe + "|" + r.mode + "|" + r.ema;
    if (!cells.count(key)) order.push_back(key);
    cells[key].push_back(&r);
  }
  for (auto& key : order) {
    auto& rs = cells[key];
    std::vector<double> tb, sb, ft, fs, sec;
    for (auto* r : rs) {
      tb.push_back(r->teacher_at_best), sb.push_back(r->student_at_best), ft.push_back(r->final_teacher);
      fs.push_back(r->final_student), sec.push_back(r->seconds);
    }
    md << "| " << rs[0]->recipe << " | " << rs[0]->mode << " | " << rs[0]->ema << " | " << mean_std(tb) << " | "
       << mean_std(sb) << " | " << mean_std(ft) << " | " << mean_std(fs) << " | " << mean_std(sec, 0) << " | " << rs.size()
       << " |\n";
  }
  result.markdown = md.str();
  write_file_atomically(a.out_dir + "/ablate.md", result.markdown);
  return result;
}

}  // namespace mmengine
