//! Safetensors in and out, by `.arch` name (docs/runtime.md). A missing tensor, a tensor
//! of another shape, or one the model does not have is an error naming the tensor and
//! both shapes; nothing is loaded half-way (the caller keeps its model on error).

use crate::params::ParamVisitor;
use burn::module::Param;
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

impl<B: Backend> ParamVisitor<B> for Weights {
    type Error = WeightError;

    fn visit<const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<B, D>>,
        transposed: bool,
    ) -> Result<(), WeightError> {
        let t = p.val();
        let mut dims = t.dims();
        if transposed {
            dims.reverse();
        }
        let loaded = self.take::<B, D>(name, dims, &t.device())?;
        *p = Param::initialized(
            p.id,
            if transposed {
                loaded.transpose()
            } else {
                loaded
            }
            .require_grad(),
        );
        Ok(())
    }
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

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// A tensor's data, checked against a shape, marked used.
    pub fn take_raw(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>, WeightError> {
        let Some((shape, data)) = self.tensors.get(name) else {
            return Err(WeightError::Missing {
                name: name.into(),
                expected: expected.to_vec(),
            });
        };
        if shape.as_slice() != expected {
            return Err(WeightError::Shape {
                name: name.into(),
                expected: expected.to_vec(),
                found: shape.clone(),
            });
        }
        self.used.insert(name.to_string());
        Ok(data.clone())
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

impl<B: Backend> ParamVisitor<B> for Saver {
    type Error = std::convert::Infallible;

    fn visit<const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<B, D>>,
        transposed: bool,
    ) -> Result<(), Self::Error> {
        let t = p.val();
        let t = if transposed { t.transpose() } else { t };
        self.put(name.to_string(), t);
        Ok(())
    }
}

impl Saver {
    pub fn put_raw(&mut self, name: String, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors.insert(name, (shape, data));
    }

    pub fn put<B: Backend, const D: usize>(&mut self, name: String, t: Tensor<B, D>) {
        let shape = t.dims().to_vec();
        let data: Vec<f32> = t.into_data().convert::<f32>().to_vec().unwrap_or_default();
        self.tensors.insert(name, (shape, data));
    }

    /// The safetensors file (tensors sorted by name, so the bytes are deterministic).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with(&[], &[])
    }

    /// The file with i64 tensors besides the f32 ones, and metadata entries.
    pub fn to_bytes_with(
        &self,
        ints: &[(String, Vec<usize>, Vec<i64>)],
        metadata: &[(&str, String)],
    ) -> Vec<u8> {
        let ints: Vec<(String, Vec<usize>, Vec<u8>)> = ints
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    s.clone(),
                    d.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
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
        let mut views: Vec<(String, safetensors::tensor::TensorView)> = bytes
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                        .expect("shape and data agree"),
                )
            })
            .collect();
        for (n, s, d) in &ints {
            views.push((
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::I64, s.clone(), d)
                    .expect("shape and data agree"),
            ));
        }
        let meta = (!metadata.is_empty()).then(|| {
            metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>()
        });
        safetensors::serialize(views, meta).expect("tensors serialise")
    }
}
