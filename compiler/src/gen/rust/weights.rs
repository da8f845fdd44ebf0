//! Parameters by `.arch` name, in PyTorch's layout, to and from safetensors files: the
//! format `archc train` checkpoints and the generated PyTorch model use. Loading checks
//! every name and shape and refuses files with tensors the model does not have.

use crate::layers::{Attention, Block, Mlp, Norm};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use std::collections::{BTreeMap, BTreeSet};

/// What is done to each parameter; `transposed` for a linear weight, held `[in, out]`
/// and named in PyTorch's `[out, in]`.
pub trait Visit<B: Backend> {
    fn param<const D: usize>(&mut self, name: &str, p: &mut Param<Tensor<B, D>>, transposed: bool) -> Result<(), String>;
}

pub fn linear<B: Backend, V: Visit<B>>(v: &mut V, name: &str, l: &mut Linear<B>) -> Result<(), String> {
    v.param(&format!("{name}.weight"), &mut l.weight, true)?;
    if let Some(b) = &mut l.bias {
        v.param(&format!("{name}.bias"), b, false)?;
    }
    Ok(())
}

pub fn linears<B: Backend, V: Visit<B>>(v: &mut V, name: &str, ls: &mut [Linear<B>]) -> Result<(), String> {
    for (i, l) in ls.iter_mut().enumerate() {
        linear(v, &format!("{name}.{i}"), l)?;
    }
    Ok(())
}

pub fn norm<B: Backend, V: Visit<B>>(v: &mut V, name: &str, n: &mut Norm<B>) -> Result<(), String> {
    v.param(&format!("{name}.weight"), &mut n.weight, false)?;
    if let Some(b) = &mut n.bias {
        v.param(&format!("{name}.bias"), b, false)?;
    }
    Ok(())
}

fn attention<B: Backend, V: Visit<B>>(v: &mut V, name: &str, a: &mut Attention<B>) -> Result<(), String> {
    for (part, l) in [("q", &mut a.q), ("k", &mut a.k), ("v", &mut a.v), ("o", &mut a.o)] {
        linear(v, &format!("{name}.{part}"), l)?;
    }
    if let Some(n) = &mut a.q_norm {
        norm(v, &format!("{name}.q_norm"), n)?;
    }
    if let Some(n) = &mut a.k_norm {
        norm(v, &format!("{name}.k_norm"), n)?;
    }
    Ok(())
}

fn mlp<B: Backend, V: Visit<B>>(v: &mut V, name: &str, m: &mut Mlp<B>) -> Result<(), String> {
    if let Some(g) = &mut m.gate {
        linear(v, &format!("{name}.gate"), g)?;
    }
    linear(v, &format!("{name}.up"), &mut m.up)?;
    linear(v, &format!("{name}.down"), &mut m.down)
}

pub fn block<B: Backend, V: Visit<B>>(v: &mut V, name: &str, b: &mut Block<B>) -> Result<(), String> {
    norm(v, &format!("{name}.attn_norm"), &mut b.attn_norm)?;
    attention(v, &format!("{name}.attn"), &mut b.attn)?;
    norm(v, &format!("{name}.mlp_norm"), &mut b.mlp_norm)?;
    mlp(v, &format!("{name}.mlp"), &mut b.mlp)?;
    if let Some(n) = &mut b.attn_post_norm {
        norm(v, &format!("{name}.attn_post_norm"), n)?;
    }
    if let Some(n) = &mut b.mlp_post_norm {
        norm(v, &format!("{name}.mlp_post_norm"), n)?;
    }
    Ok(())
}

pub fn blocks<B: Backend, V: Visit<B>>(v: &mut V, name: &str, bs: &mut [Block<B>]) -> Result<(), String> {
    for (i, b) in bs.iter_mut().enumerate() {
        block(v, &format!("{name}.{i}"), b)?;
    }
    Ok(())
}

/// Reads a safetensors file's f32 tensors and loads them by name.
pub struct Loader {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    used: BTreeSet<String>,
}

impl Loader {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format!("not a readable safetensors file: {e}"))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(format!("tensor `{name}` is {:?}; f32 is expected", view.dtype()));
            }
            let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(Loader { tensors, used: BTreeSet::new() })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// A tensor's data, which must have `shape`; it counts as used.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let Some((have, data)) = self.tensors.get(name) else {
            return Err(format!("tensor `{name}` (shape {shape:?}) is missing"));
        };
        if have.as_slice() != shape {
            return Err(format!("tensor `{name}` has shape {have:?}, but {shape:?} is needed"));
        }
        self.used.insert(name.to_string());
        Ok(data.clone())
    }

    /// Every tensor of the file was used.
    pub fn finish(self) -> Result<(), String> {
        let extra: Vec<&String> = self.tensors.keys().filter(|k| !self.used.contains(*k)).collect();
        if extra.is_empty() {
            Ok(())
        } else {
            Err(format!("the weights hold tensors the model does not have: {extra:?}"))
        }
    }
}

impl<B: Backend> Visit<B> for Loader {
    fn param<const D: usize>(&mut self, name: &str, p: &mut Param<Tensor<B, D>>, transposed: bool) -> Result<(), String> {
        let t = p.val();
        let mut dims = t.dims();
        if transposed {
            dims.reverse();
        }
        let Some((shape, data)) = self.tensors.get(name) else {
            return Err(format!("tensor `{name}` (shape {dims:?}) is missing from the weights"));
        };
        if shape.as_slice() != dims.as_slice() {
            return Err(format!("tensor `{name}` has shape {shape:?}, but the model needs {dims:?}"));
        }
        self.used.insert(name.to_string());
        let loaded = Tensor::<B, D>::from_data(TensorData::new(data.clone(), dims), &t.device());
        *p = Param::initialized(p.id, if transposed { loaded.transpose() } else { loaded }.require_grad());
        Ok(())
    }
}

/// Collects every parameter, named and in PyTorch's layout.
#[derive(Default)]
pub struct Saver {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl<B: Backend> Visit<B> for Saver {
    fn param<const D: usize>(&mut self, name: &str, p: &mut Param<Tensor<B, D>>, transposed: bool) -> Result<(), String> {
        let t = p.val();
        let t = if transposed { t.transpose() } else { t };
        let shape = t.dims().to_vec();
        let data: Vec<f32> = t.into_data().convert::<f32>().to_vec().map_err(|e| format!("{e:?}"))?;
        self.tensors.insert(name.to_string(), (shape, data));
        Ok(())
    }
}

/// A safetensors file of f32 tensors (sorted by name: the bytes are deterministic).
pub fn to_safetensors(tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Result<Vec<u8>, String> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.iter().map(|(n, (s, d))| (n.clone(), s.clone(), d.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let mut views = Vec::new();
    for (n, s, d) in &bytes {
        views.push((n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).map_err(|e| e.to_string())?));
    }
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

/// MAR's `SimpleMLPAdaLN`, named as in its `diffloss.py`.
pub fn diffusion<B: Backend, V: Visit<B>>(v: &mut V, name: &str, d: &mut crate::diffusion::DiffusionMlp<B>) -> Result<(), String> {
    linear(v, &format!("{name}.time_embed.mlp.0"), &mut d.time_in)?;
    linear(v, &format!("{name}.time_embed.mlp.2"), &mut d.time_out)?;
    linear(v, &format!("{name}.cond_embed"), &mut d.cond)?;
    linear(v, &format!("{name}.input_proj"), &mut d.input)?;
    for (i, r) in d.blocks.iter_mut().enumerate() {
        let p = format!("{name}.res_blocks.{i}");
        norm(v, &format!("{p}.in_ln"), &mut r.norm)?;
        linear(v, &format!("{p}.mlp.0"), &mut r.mlp_in)?;
        linear(v, &format!("{p}.mlp.2"), &mut r.mlp_out)?;
        linear(v, &format!("{p}.adaLN_modulation.1"), &mut r.ada)?;
    }
    linear(v, &format!("{name}.final_layer.linear"), &mut d.final_linear)?;
    linear(v, &format!("{name}.final_layer.adaLN_modulation.1"), &mut d.final_ada)
}
