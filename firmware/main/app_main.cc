// The sorting bin: trigger -> camera frame -> preprocess -> TFLM -> decision -> gate pulse, with the
// serial protocol served beside it. Nothing here may reboot the board: a bad model, a missing
// camera or a gate error is logged with its reason, sorting pauses, and the protocol stays up so the
// host can see what is wrong (and flash a new model).
#include <cstdio>
#include <cstring>

#include "driver/gpio.h"
#include "esp_app_desc.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "sdkconfig.h"

#include "camera_source.h"
#include "gate_driver.h"
#include "model_info.h"
#include "model_store.h"
#include "sorter/decision.h"
#include "sorter/model_contract.h"
#include "sorter/pipeline.h"
#include "tflm_classifier.h"
#include "usb_link.h"
#if CONFIG_PLASTISORT_LINK_ENABLE
#include "sorter_link/serve.h"
#endif

static const char* TAG = "sorter";

#if CONFIG_PLASTISORT_BOARD_ESP32S3_EYE
static constexpr const char* kBoardName = "ESP32-S3-EYE";
#elif CONFIG_PLASTISORT_BOARD_XIAO_ESP32S3_SENSE
static constexpr const char* kBoardName = "XIAO ESP32S3 Sense";
#else
static constexpr const char* kBoardName = "custom";
#endif

#ifdef CONFIG_PLASTISORT_PRESERVE_ALL_TENSORS
static constexpr bool kPreserveAllTensors = true;
#else
static constexpr bool kPreserveAllTensors = false;
#endif

// While the host has talked to the device within this window, the camera loop does not sort, so a
// HIL run has the classifier to itself.
static constexpr int64_t kHostActiveWindowUs = 5 * 1000 * 1000;

// The camera task and the protocol task share one interpreter; TFLM is not reentrant.
class LockedClassifier : public sorter::Classifier {
 public:
  explicit LockedClassifier(sorter::Classifier& inner) : inner_(inner) {}
  // Called from app_main before any task uses the classifier (not in a static constructor).
  bool init() {
    lock_ = xSemaphoreCreateMutex();
    return lock_ != nullptr;
  }
  bool ready() const override { return inner_.ready(); }
  const char* last_error() const override { return inner_.last_error(); }
  const sorter::ModelDescription& description() const override { return inner_.description(); }
  sorter::Status classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                          uint32_t* invoke_us) override {
    xSemaphoreTake(lock_, portMAX_DELAY);
    const sorter::Status s = inner_.classify(input, input_len, scores, scores_len, invoke_us);
    xSemaphoreGive(lock_);
    return s;
  }
  size_t dump_tensor_count() const override { return inner_.dump_tensor_count(); }
  sorter::Status dump_tensor(size_t index, const int8_t** data, size_t* len, const char** name) const override {
    return inner_.dump_tensor(index, data, len, name);
  }

 private:
  sorter::Classifier& inner_;
  SemaphoreHandle_t lock_ = nullptr;
};

static TflmClassifier g_tflm;
static LockedClassifier g_classifier(g_tflm);
static GateDriver g_gates;
static UsbSerialJtagLink g_link;  // also the host-activity clock when the protocol is off
#if CONFIG_PLASTISORT_LINK_ENABLE
static bool g_link_ok = false;
#endif

// Labels, resize mode and arena come from the running model (sorter/model_contract.h); model_info.h
// describes only the built-in model.
static char g_label_storage[512];
static sorter::ModelContract g_contract = {};
static const char* const* g_labels = g_contract.labels;
static size_t g_num_labels = 0;

static SemaphoreHandle_t g_trigger = nullptr;

static uint64_t now_us() { return static_cast<uint64_t>(esp_timer_get_time()); }

static void hex8(const uint8_t* sha, char out[17]) {
  for (int i = 0; i < 8; ++i) std::snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

// ---------------------------------------------------------------------------------------------
// Model: the `model` partition when it holds a valid model that this firmware can run, else the
// built-in array.

static sorter::BuiltinModelInfo builtin_info() {
  sorter::BuiltinModelInfo b = {};
  b.sha256 = plastisort_model::kModelSha256;
  b.labels = plastisort_model::kLabels;
  b.num_labels = plastisort_model::kNumClasses;
  b.resize_mode = plastisort_model::kResizeMode == 1 ? sorter::ResizeMode::kCenterCrop : sorter::ResizeMode::kSquash;
  b.arena_bytes = kPreserveAllTensors ? plastisort_model::kArenaPreserveAllBytes : plastisort_model::kArenaBytes;
  return b;
}

// The built-in model's planned arena; 0 for any other model, whose arena TFLM measures on load.
static size_t arena_bytes(const uint8_t sha256[32]) {
  const size_t planned = sorter::contract_arena_bytes(sha256, builtin_info());
  if (planned == 0) return 0;
  return planned + static_cast<size_t>(CONFIG_PLASTISORT_ARENA_EXTRA_KB) * 1024;
}

static void load_model() {
  char sha[17];
#if CONFIG_PLASTISORT_USE_MODEL_PARTITION
  ModelSource part;
  if (load_partition_model(&part)) {
    hex8(part.sha256, sha);
    if (g_tflm.load(part.data, part.len, part.sha256, arena_bytes(part.sha256), kPreserveAllTensors)) {
      ESP_LOGI(TAG, "model: from the `model` partition (sha256 %s..., %u bytes)", sha, static_cast<unsigned>(part.len));
      return;
    }
    ESP_LOGE(TAG, "the `model` partition holds model %s... but it cannot run here: %s. Falling back to the built-in model.",
             sha, g_tflm.last_error());
  } else {
    ESP_LOGI(TAG, "`model` partition not used: %s", part.partition_reason);
  }
#endif
  const ModelSource builtin = builtin_model();
  hex8(builtin.sha256, sha);
  if (g_tflm.load(builtin.data, builtin.len, builtin.sha256, arena_bytes(builtin.sha256), kPreserveAllTensors)) {
    ESP_LOGI(TAG, "model: built-in (sha256 %s..., %u bytes)", sha, static_cast<unsigned>(builtin.len));
    return;
  }
  ESP_LOGE(TAG, "built-in model %s... cannot run: %s. Sorting is off; the serial protocol stays up.", sha,
           g_tflm.last_error());
}

static void load_contract() {
  size_t json_len = 0;
  const char* json = g_tflm.plastisort_metadata(&json_len);
  const bool ready = g_tflm.ready();
  const size_t classes = ready ? g_tflm.description().num_classes : plastisort_model::kNumClasses;
  const uint8_t* sha = ready ? g_tflm.description().model_sha256 : plastisort_model::kModelSha256;
  sorter::resolve_model_contract(json, json_len, classes, sha, builtin_info(), g_label_storage,
                                 sizeof g_label_storage, &g_contract);
  g_num_labels = g_contract.num_labels;
  const char* resize = g_contract.resize_mode == sorter::ResizeMode::kCenterCrop ? "centre crop" : "squash";
  if (g_contract.labels_from == sorter::ContractSource::kDefault || g_contract.resize_from == sorter::ContractSource::kDefault) {
    ESP_LOGW(TAG, "model contract: the model has no usable plastisort metadata: %u labels from %s, resize %s from %s",
             static_cast<unsigned>(g_num_labels), sorter::contract_source_str(g_contract.labels_from), resize,
             sorter::contract_source_str(g_contract.resize_from));
  } else {
    ESP_LOGI(TAG, "model contract: %u labels from %s, resize %s from %s", static_cast<unsigned>(g_num_labels),
             sorter::contract_source_str(g_contract.labels_from), resize,
             sorter::contract_source_str(g_contract.resize_from));
  }
}

// ---------------------------------------------------------------------------------------------
// sorter_link hook: the serial protocol (components/sorter_link, the serial protocol issue) served
// on USB-Serial-JTAG beside the sorting loop. It runs whatever state the model and camera are in.
#if CONFIG_PLASTISORT_LINK_ENABLE
static void protocol_task(void*) {
  sorter_link::LinkSink sink(g_link);
  sorter_link::DeviceIdentity identity;
  identity.firmware_version = esp_app_get_description()->version;
  identity.app_elf_sha256 = esp_app_get_description()->app_elf_sha256;
  identity.labels = g_labels;
  identity.num_labels = g_num_labels;
  identity.boot_id = esp_random();
  sorter_link::Dispatcher dispatcher(g_classifier, identity, sink);
  dispatcher.announce();
  for (;;) {
    sorter_link::serve(g_link, dispatcher);
    vTaskDelay(pdMS_TO_TICKS(100));
  }
}
#endif
// ---------------------------------------------------------------------------------------------

#if CONFIG_PLASTISORT_TRIGGER_BREAK_BEAM
static void IRAM_ATTR beam_isr(void*) {
  BaseType_t woken = pdFALSE;
  xSemaphoreGiveFromISR(g_trigger, &woken);
  if (woken) portYIELD_FROM_ISR();
}

static bool setup_trigger() {
#if CONFIG_PLASTISORT_BREAK_BEAM_GPIO < 0
  ESP_LOGE(TAG, "no break-beam GPIO chosen: set it in menuconfig (Plastisort sorter > Trigger) or choose the periodic trigger");
  (void)beam_isr;
  return false;
#else
  g_trigger = xSemaphoreCreateBinary();
  gpio_config_t io = {};
  io.pin_bit_mask = 1ULL << CONFIG_PLASTISORT_BREAK_BEAM_GPIO;
  io.mode = GPIO_MODE_INPUT;
#ifdef CONFIG_PLASTISORT_BREAK_BEAM_ACTIVE_LOW
  io.pull_up_en = GPIO_PULLUP_ENABLE;
  io.intr_type = GPIO_INTR_NEGEDGE;
#else
  io.pull_down_en = GPIO_PULLDOWN_ENABLE;
  io.intr_type = GPIO_INTR_POSEDGE;
#endif
  esp_err_t err = gpio_config(&io);
  if (err == ESP_OK) {
    err = gpio_install_isr_service(0);
    if (err == ESP_ERR_INVALID_STATE) err = ESP_OK;  // already installed (e.g. by the camera driver)
  }
  if (err == ESP_OK) err = gpio_isr_handler_add(static_cast<gpio_num_t>(CONFIG_PLASTISORT_BREAK_BEAM_GPIO), beam_isr, nullptr);
  if (err != ESP_OK) {
    ESP_LOGE(TAG, "break-beam GPIO %d: %s", CONFIG_PLASTISORT_BREAK_BEAM_GPIO, esp_err_to_name(err));
    return false;
  }
  return true;
#endif
}

static void wait_trigger() {
  xSemaphoreTake(g_trigger, portMAX_DELAY);
  vTaskDelay(pdMS_TO_TICKS(CONFIG_PLASTISORT_TRIGGER_SETTLE_MS));
}

static void drain_trigger() {
  while (xSemaphoreTake(g_trigger, 0) == pdTRUE) {
  }
}
#else
static bool setup_trigger() { return true; }
static void wait_trigger() { vTaskDelay(pdMS_TO_TICKS(CONFIG_PLASTISORT_PERIOD_MS)); }
static void drain_trigger() {}
#endif

static sorter::PipelineConfig make_pipeline_config() {
  sorter::PipelineConfig pc = {};
#if CONFIG_PLASTISORT_RESIZE_SQUASH
  pc.resize_mode = sorter::ResizeMode::kSquash;
#elif CONFIG_PLASTISORT_RESIZE_CENTER_CROP
  pc.resize_mode = sorter::ResizeMode::kCenterCrop;
#else
  pc.resize_mode = g_contract.resize_mode;  // as the running model was trained
#endif
  sorter::DecisionConfig& d = pc.decision;
  d.num_bins = static_cast<uint8_t>(CONFIG_PLASTISORT_NUM_BINS);
  d.reject_bin = static_cast<uint8_t>(CONFIG_PLASTISORT_REJECT_BIN);
  if (d.reject_bin >= d.num_bins) {
    ESP_LOGE(TAG, "reject bin %u does not exist (%u bins); using bin %u", d.reject_bin, d.num_bins, d.num_bins - 1);
    d.reject_bin = static_cast<uint8_t>(d.num_bins - 1);
  }
  d.min_score = sorter::percent_to_min_score(CONFIG_PLASTISORT_CONFIDENCE_PERCENT, g_tflm.description().output_quant);
#ifdef CONFIG_PLASTISORT_TIE_REJECT
  d.tie_policy = sorter::TiePolicy::kReject;
#else
  d.tie_policy = sorter::TiePolicy::kLowestIndex;
#endif
  char err[96];
  if (sorter::parse_bin_map(CONFIG_PLASTISORT_BIN_MAP, g_labels, g_num_labels, &d, err, sizeof err) !=
      sorter::BinMapStatus::kOk) {
    ESP_LOGE(TAG, "PLASTISORT_BIN_MAP \"%s\": %s; every item goes to the reject bin %u until the map names this model's labels",
             CONFIG_PLASTISORT_BIN_MAP, err, d.reject_bin);
    sorter::map_all_to_reject(&d, g_num_labels);
  }
  for (size_t i = 0; i < g_num_labels; ++i) ESP_LOGI(TAG, "class %u %s -> bin %u", static_cast<unsigned>(i), g_labels[i], d.class_to_bin[i]);
  ESP_LOGI(TAG, "reject bin %u, threshold %d%% (int8 score >= %d), ties %s", d.reject_bin,
           CONFIG_PLASTISORT_CONFIDENCE_PERCENT, d.min_score, d.tie_policy == sorter::TiePolicy::kReject ? "rejected" : "to the lower class");
  pc.gate_hold_ms = CONFIG_PLASTISORT_GATE_HOLD_MS;
  return pc;
}

static void idle_forever(const char* why) {
  ESP_LOGE(TAG, "sorting stopped: %s", why);
  for (;;) vTaskDelay(pdMS_TO_TICKS(60000));
}

static void sorter_task(void*) {
  if (!g_tflm.ready()) idle_forever(g_tflm.last_error());
  if (!g_gates.begin(CONFIG_PLASTISORT_GATE_PINS, CONFIG_PLASTISORT_NUM_BINS)) idle_forever(g_gates.last_error());
  if (!setup_trigger()) idle_forever("the trigger input could not be set up");

  const sorter::ModelDescription& md = g_tflm.description();
  const size_t input_len = static_cast<size_t>(md.input_width) * md.input_height * md.input_channels;
  int8_t* input = static_cast<int8_t*>(heap_caps_malloc(input_len, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT));
  int8_t scores[sorter::kMaxClasses];
  if (input == nullptr) idle_forever("no PSRAM for the input tensor");
  const sorter::PipelineConfig config = make_pipeline_config();

  EspCamera camera;
  while (!camera.start()) {
    ESP_LOGE(TAG, "camera: %s; retrying in 10 s (the serial protocol keeps running)", camera.last_error());
    vTaskDelay(pdMS_TO_TICKS(10000));
  }
#if CONFIG_PLASTISORT_TRIGGER_BREAK_BEAM
  ESP_LOGI(TAG, "camera started; waiting for the break-beam on GPIO %d", CONFIG_PLASTISORT_BREAK_BEAM_GPIO);
#else
  ESP_LOGI(TAG, "camera started; sorting every %d ms", CONFIG_PLASTISORT_PERIOD_MS);
#endif

  sorter::SortingPipeline pipeline(camera, g_classifier, g_gates, config, input, input_len, scores, sizeof scores, now_us);
  bool paused_logged = false;
  for (;;) {
    wait_trigger();
    const int64_t last_rx = g_link.last_rx_us();
    if (last_rx != 0 && esp_timer_get_time() - last_rx < kHostActiveWindowUs) {
      if (!paused_logged) ESP_LOGI(TAG, "host connected on the serial link: sorting paused");
      paused_logged = true;
      drain_trigger();
      continue;
    }
    paused_logged = false;
    const sorter::CycleResult r = pipeline.run_once();
    if (r.status == sorter::CycleStatus::kSorted) {
      const sorter::Decision& d = r.decision;
      const char* label = d.top_class >= 0 && static_cast<size_t>(d.top_class) < g_num_labels ? g_labels[d.top_class] : "?";
      ESP_LOGI(TAG, "%s %.1f%% -> bin %u (%s) | preprocess %u us, invoke %u us, cycle %u us", label,
               100.0f * sorter::score_to_probability(d.top_score, md.output_quant), d.bin,
               sorter::decision_reason_str(d.reason), static_cast<unsigned>(r.preprocess_us),
               static_cast<unsigned>(r.invoke_us), static_cast<unsigned>(r.total_us));
    } else {
      ESP_LOGW(TAG, "cycle failed: %s: %s", sorter::cycle_status_str(r.status), r.error);
      if (r.status == sorter::CycleStatus::kCameraFailed) vTaskDelay(pdMS_TO_TICKS(1000));
    }
    drain_trigger();
  }
}

extern "C" void app_main(void) {
  const esp_app_desc_t* app = esp_app_get_description();
  ESP_LOGI(TAG, "plastisort sorter %s on %s, %u KB PSRAM free", app->version, kBoardName,
           static_cast<unsigned>(heap_caps_get_free_size(MALLOC_CAP_SPIRAM) / 1024));
  if (!g_classifier.init()) {
    ESP_LOGE(TAG, "out of memory at boot: nothing can run");
    return;
  }
#if CONFIG_PLASTISORT_LINK_ENABLE
  g_link_ok = g_link.begin();
#endif
  load_model();
  load_contract();
#if CONFIG_PLASTISORT_LINK_ENABLE
  if (g_link_ok) {
    // Core 1, like the sorter: a host's classify request runs a whole inference in this task, and
    // core 0's idle task is the one the task watchdog watches (sdkconfig.defaults).
    xTaskCreatePinnedToCore(protocol_task, "protocol", 8192, nullptr, 5, nullptr, 1);
  } else {
    ESP_LOGE(TAG, "serial protocol not started: the USB-Serial-JTAG driver failed");
  }
#endif
  xTaskCreatePinnedToCore(sorter_task, "sorter", 8192, nullptr, 4, nullptr, 1);
}
