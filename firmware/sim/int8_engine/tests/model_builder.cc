#include "model_builder.h"

#include <map>

namespace testmodel {

FbPtr table() { return std::make_shared<Fb>(); }

FbPtr str(const std::string& s) {
  auto p = std::make_shared<Fb>();
  p->kind = Fb::kString;
  p->bytes.assign(s.begin(), s.end());
  p->count = static_cast<uint32_t>(s.size());
  return p;
}

FbPtr refs(std::vector<FbPtr> items) {
  auto p = std::make_shared<Fb>();
  p->kind = Fb::kRefs;
  p->refs = std::move(items);
  p->count = static_cast<uint32_t>(p->refs.size());
  return p;
}

namespace {

struct Writer {
  std::vector<uint8_t> out;

  void align(size_t a) {
    while (out.size() % a) out.push_back(0);
  }
  void put32(size_t pos, uint32_t v) { std::memcpy(out.data() + pos, &v, 4); }
  size_t append(const void* p, size_t n) {
    const size_t pos = out.size();
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return pos;
  }
  void patch(size_t field_pos, const FbPtr& child) {
    const size_t child_pos = emit(child);
    put32(field_pos, static_cast<uint32_t>(child_pos - field_pos));
  }

  size_t emit(const FbPtr& v) {
    switch (v->kind) {
      case Fb::kString:
      case Fb::kScalars: {
        const size_t a = v->elem_size > 4 ? v->elem_size : 4;
        while ((out.size() + 4) % a) out.push_back(0);
        const size_t pos = append(&v->count, 4);
        append(v->bytes.data(), v->bytes.size());
        if (v->kind == Fb::kString) out.push_back(0);
        return pos;
      }
      case Fb::kRefs: {
        align(4);
        const size_t pos = append(&v->count, 4);
        std::vector<size_t> slots;
        for (size_t i = 0; i < v->refs.size(); ++i) {
          uint32_t z = 0;
          slots.push_back(append(&z, 4));
        }
        for (size_t i = 0; i < v->refs.size(); ++i) patch(slots[i], v->refs[i]);
        return pos;
      }
      case Fb::kTable: {
        // Inline layout: soffset, then fields each aligned to their size.
        std::vector<uint16_t> offsets(v->fields.size(), 0);
        size_t inline_size = 4;
        size_t max_align = 4;
        for (size_t i = 0; i < v->fields.size(); ++i) {
          const Fb::Field& f = v->fields[i];
          if (!f.present) continue;
          const size_t sz = f.is_ref ? 4 : f.scalar.size();
          while (inline_size % sz) ++inline_size;
          offsets[i] = static_cast<uint16_t>(inline_size);
          inline_size += sz;
          if (sz > max_align) max_align = sz;
        }
        const size_t vt_bytes = 4 + 2 * v->fields.size();
        align(2);
        // Place the vtable so the table that follows it is aligned to max_align.
        while ((out.size() + vt_bytes) % max_align) out.push_back(0);
        const size_t vt_pos = out.size();
        const uint16_t vsize = static_cast<uint16_t>(vt_bytes), tsize = static_cast<uint16_t>(inline_size);
        append(&vsize, 2);
        append(&tsize, 2);
        for (uint16_t o : offsets) append(&o, 2);
        const size_t table_pos = out.size();
        out.resize(out.size() + inline_size, 0);
        const int32_t soff = static_cast<int32_t>(table_pos - vt_pos);
        std::memcpy(out.data() + table_pos, &soff, 4);
        for (size_t i = 0; i < v->fields.size(); ++i) {
          const Fb::Field& f = v->fields[i];
          if (f.present && !f.is_ref) std::memcpy(out.data() + table_pos + offsets[i], f.scalar.data(), f.scalar.size());
        }
        for (size_t i = 0; i < v->fields.size(); ++i) {
          const Fb::Field& f = v->fields[i];
          if (f.present && f.is_ref) patch(table_pos + offsets[i], f.ref);
        }
        return table_pos;
      }
    }
    return 0;
  }
};

}  // namespace

std::vector<uint8_t> finish(const FbPtr& root, const char* identifier) {
  Writer w;
  w.out.resize(8, 0);
  if (identifier) std::memcpy(w.out.data() + 4, identifier, 4);
  const size_t pos = w.emit(root);
  w.put32(0, static_cast<uint32_t>(pos));
  return w.out;
}

std::vector<uint8_t> build(const Model& m) {
  // Operator codes, deduplicated in order of first use.
  std::vector<std::pair<int32_t, bool>> codes;
  std::vector<uint32_t> op_code_index;
  for (const Op& op : m.ops) {
    size_t k = 0;
    while (k < codes.size() && !(codes[k].first == op.code && codes[k].second == op.use_deprecated_code)) ++k;
    if (k == codes.size()) codes.push_back({op.code, op.use_deprecated_code});
    op_code_index.push_back(static_cast<uint32_t>(k));
  }
  std::vector<FbPtr> code_tables;
  for (const auto& c : codes) {
    auto t = table();
    if (c.second) {
      t->set<int8_t>(0, static_cast<int8_t>(c.first));
    } else {
      t->set<int8_t>(0, static_cast<int8_t>(c.first < 127 ? c.first : 127));
      t->set<int32_t>(3, c.first);
    }
    t->set<int32_t>(2, 1);
    code_tables.push_back(t);
  }
  std::vector<FbPtr> buffers{table()};  // buffer 0: empty sentinel
  std::vector<FbPtr> tensors;
  for (const Tensor& t : m.tensors) {
    auto tt = table();
    tt->ref(0, scalars(t.shape));
    tt->set<int8_t>(1, t.type);
    uint32_t bi = 0;
    if (!t.data.empty()) {
      bi = static_cast<uint32_t>(buffers.size());
      auto b = table();
      b->ref(0, scalars(t.data));
      buffers.push_back(b);
    }
    tt->set<uint32_t>(2, bi);
    tt->ref(3, str(t.name));
    if (!t.scales.empty()) {
      auto q = table();
      q->ref(2, scalars(t.scales));
      q->ref(3, scalars(t.zero_points));
      q->set<int32_t>(6, t.quantized_dimension);
      tt->ref(4, q);
    }
    tensors.push_back(tt);
  }
  std::vector<FbPtr> ops;
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    auto ot = table();
    ot->set<uint32_t>(0, op_code_index[i]);
    ot->ref(1, scalars(op.inputs));
    ot->ref(2, scalars(op.outputs));
    if (op.options) {
      ot->set<uint8_t>(3, op.options_type);
      ot->ref(4, op.options);
    }
    ops.push_back(ot);
  }
  auto sg = table();
  sg->ref(0, refs(tensors));
  sg->ref(1, scalars(m.inputs));
  sg->ref(2, scalars(m.outputs));
  sg->ref(3, refs(ops));
  sg->ref(4, str("main"));
  auto model = table();
  model->set<uint32_t>(0, 3);
  model->ref(1, refs(code_tables));
  model->ref(2, refs({sg}));
  model->ref(3, str("int8_engine test model"));
  if (!m.plastisort_json.empty()) {
    auto b = table();
    b->ref(0, scalars(std::vector<uint8_t>(m.plastisort_json.begin(), m.plastisort_json.end())));
    const uint32_t bi = static_cast<uint32_t>(buffers.size());
    buffers.push_back(b);
    auto md = table();
    md->ref(0, str("plastisort"));
    md->set<uint32_t>(1, bi);
    model->ref(6, refs({md}));
  }
  model->ref(4, refs(buffers));
  return finish(model);
}

}  // namespace testmodel
