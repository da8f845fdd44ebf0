//! Safetensors in and out, by `.arch` name (docs/runtime.md). A missing tensor, a tensor
//! of another shape, or one the model does not have is an error naming the tensor and
//! both shapes; nothing is loaded half-way (the caller keeps its model on error).

use crate::layers::{Attention, Block, Mlp, Norm};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub enum WeightError {
    Unreadable(String),
    Missing {
        name: String,
        expected: Vec<usize>,
    },
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    Unknown {
        names: Vec<String>,
    },
    Dtype {
        name: String,
        found: String,
    },
}

impl std::fmt::Display for WeightError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightError::Unreadable(e) => write!(f, "not a readable safetensors file: {e}"),
            WeightError::Missing { name, expected } => write!(
                f,
                "tensor `{name}` (shape {expected:?}) is missing from the weights"
            ),
            WeightError::Shape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor `{name}` has shape {found:?}, but the model needs {expected:?}"
                )
            }
            WeightError::Unknown { names } => write!(
                f,
                "the weights hold tensors the model does not have: {}",
                names.join(", ")
            ),
            WeightError::Dtype { name, found } => {
                write!(f, "tensor `{name}` is {found}; f32 is expected")
            }
        }
    }
}

impl std::error::Error for WeightError {}

/// The tensors of a file, by name, as f32 with their shapes.
pub struct Weights {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    used: BTreeSet<String>,
}

impl Weights {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightError> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| WeightError::Unreadable(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(WeightError::Dtype {
                    name,
                    found: format!("{:?}", view.dtype()),
                });
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(Weights {
            tensors,
            used: BTreeSet::new(),
        })
    }

    fn take<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        expected: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>, WeightError> {
        let Some((shape, data)) = self.tensors.get(name) else {
            return Err(WeightError::Missing {
                name: name.into(),
                expected: expected.to_vec(),
            });
        };
        if shape.as_slice() != expected.as_slice() {
            return Err(WeightError::Shape {
                name: name.into(),
                expected: expected.to_vec(),
                found: shape.clone(),
            });
        }
        self.used.insert(name.to_string());
        Ok(Tensor::from_data(
            TensorData::new(data.clone(), expected),
            device,
        ))
    }

    /// A tensor as it is stored ([vocab, dim] embeddings, positions).
    pub fn plain<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<B, D>>,
    ) -> Result<(), WeightError> {
        let t = p.val();
        let loaded = self.take::<B, D>(name, t.dims(), &t.device())?;
        *p = Param::from_tensor(loaded);
        Ok(())
    }

    /// A linear map: `weight` stored [out, in] (PyTorch), held [in, out] (burn).
    pub fn linear<B: Backend>(&mut self, name: &str, l: &mut Linear<B>) -> Result<(), WeightError> {
        let w = l.weight.val();
        let [i, o] = w.dims();
        let loaded = self.take::<B, 2>(&format!("{name}.weight"), [o, i], &w.device())?;
        l.weight = Param::from_tensor(loaded.transpose());
        if let Some(b) = &mut l.bias {
            self.plain(&format!("{name}.bias"), b)?;
        }
        Ok(())
    }

    pub fn norm<B: Backend>(&mut self, name: &str, n: &mut Norm<B>) -> Result<(), WeightError> {
        self.plain(&format!("{name}.weight"), &mut n.weight)?;
        if let Some(b) = &mut n.bias {
            self.plain(&format!("{name}.bias"), b)?;
        }
        Ok(())
    }

    pub fn block<B: Backend>(&mut self, name: &str, b: &mut Block<B>) -> Result<(), WeightError> {
        self.norm(&format!("{name}.attn_norm"), &mut b.attn_norm)?;
        self.attention(&format!("{name}.attn"), &mut b.attn)?;
        self.norm(&format!("{name}.mlp_norm"), &mut b.mlp_norm)?;
        self.mlp(&format!("{name}.mlp"), &mut b.mlp)?;
        if let Some(n) = &mut b.attn_post_norm {
            self.norm(&format!("{name}.attn_post_norm"), n)?;
        }
        if let Some(n) = &mut b.mlp_post_norm {
            self.norm(&format!("{name}.mlp_post_norm"), n)?;
        }
        Ok(())
    }

    fn attention<B: Backend>(
        &mut self,
        name: &str,
        a: &mut Attention<B>,
    ) -> Result<(), WeightError> {
        for (part, l) in [
            ("q", &mut a.q),
            ("k", &mut a.k),
            ("v", &mut a.v),
            ("o", &mut a.o),
        ] {
            self.linear(&format!("{name}.{part}"), l)?;
        }
        if let Some(n) = &mut a.q_norm {
            self.norm(&format!("{name}.q_norm"), n)?;
        }
        if let Some(n) = &mut a.k_norm {
            self.norm(&format!("{name}.k_norm"), n)?;
        }
        Ok(())
    }

    fn mlp<B: Backend>(&mut self, name: &str, m: &mut Mlp<B>) -> Result<(), WeightError> {
        if let Some(g) = &mut m.gate {
            self.linear(&format!("{name}.gate"), g)?;
        }
        self.linear(&format!("{name}.up"), &mut m.up)?;
        self.linear(&format!("{name}.down"), &mut m.down)
    }

    /// Every tensor of the file was used.
    pub fn finish(self) -> Result<(), WeightError> {
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect();
        if names.is_empty() {
            Ok(())
        } else {
            Err(WeightError::Unknown { names })
        }
    }
}

/// Collects tensors by `.arch` name, in PyTorch layout, for a safetensors file.
#[derive(Default)]
pub struct Saver {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Saver {
    fn put<B: Backend, const D: usize>(&mut self, name: String, t: Tensor<B, D>) {
        let shape = t.dims().to_vec();
        let data: Vec<f32> = t.into_data().convert::<f32>().to_vec().unwrap_or_default();
        self.tensors.insert(name, (shape, data));
    }

    pub fn plain<B: Backend, const D: usize>(&mut self, name: &str, p: &Param<Tensor<B, D>>) {
        self.put(name.to_string(), p.val());
    }

    pub fn linear<B: Backend>(&mut self, name: &str, l: &Linear<B>) {
        self.put(format!("{name}.weight"), l.weight.val().transpose());
        if let Some(b) = &l.bias {
            self.plain(&format!("{name}.bias"), b);
        }
    }

    pub fn norm<B: Backend>(&mut self, name: &str, n: &Norm<B>) {
        self.plain(&format!("{name}.weight"), &n.weight);
        if let Some(b) = &n.bias {
            self.plain(&format!("{name}.bias"), b);
        }
    }

    pub fn block<B: Backend>(&mut self, name: &str, b: &Block<B>) {
        self.norm(&format!("{name}.attn_norm"), &b.attn_norm);
        let a = &b.attn;
        for (part, l) in [("q", &a.q), ("k", &a.k), ("v", &a.v), ("o", &a.o)] {
            self.linear(&format!("{name}.attn.{part}"), l);
        }
        if let Some(n) = &a.q_norm {
            self.norm(&format!("{name}.attn.q_norm"), n);
        }
        if let Some(n) = &a.k_norm {
            self.norm(&format!("{name}.attn.k_norm"), n);
        }
        self.norm(&format!("{name}.mlp_norm"), &b.mlp_norm);
        if let Some(g) = &b.mlp.gate {
            self.linear(&format!("{name}.mlp.gate"), g);
        }
        self.linear(&format!("{name}.mlp.up"), &b.mlp.up);
        self.linear(&format!("{name}.mlp.down"), &b.mlp.down);
        if let Some(n) = &b.attn_post_norm {
            self.norm(&format!("{name}.attn_post_norm"), n);
        }
        if let Some(n) = &b.mlp_post_norm {
            self.norm(&format!("{name}.mlp_post_norm"), n);
        }
    }

    /// The safetensors file (tensors sorted by name, so the bytes are deterministic).
    pub fn to_bytes(&self) -> Vec<u8> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, (s, d))| {
                (
                    n.clone(),
                    s.clone(),
                    d.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                        .expect("shape and data agree"),
                )
            })
            .collect();
        safetensors::serialize(views, None).expect("f32 tensors serialise")
    }
}
