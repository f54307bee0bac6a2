//! What an op's compute function takes and returns: the step's [`Inputs`], its
//! [`Outputs`], and the [`OutputShape`]s ([`NoOutput`], [`Single`], [`Multi`]) that turn
//! the value compute returns into outputs.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::context::OpContext;
use super::error::OpError;
use super::value::{OutputDefinition, StepValue};

/// An op's compute function, with its return value already turned into [`Outputs`].
pub(crate) type ComputeFn =
    Arc<dyn Fn(OpContext, Inputs) -> BoxFuture<'static, Result<Outputs, OpError>> + Send + Sync>;

/// The inputs of one step, taken by name.
pub struct Inputs {
    values: HashMap<String, StepValue>,
}

impl Inputs {
    pub(crate) fn new(values: HashMap<String, StepValue>) -> Self {
        Self { values }
    }

    /// The value of input `name` (for a fan-in input of `T`, ask for `Vec<T>`).
    pub fn get<T: Clone + 'static>(&self, name: &str) -> Result<T, OpError> {
        self.get_ref::<T>(name).cloned()
    }

    /// A reference to the value of input `name`, without cloning it.
    pub fn get_ref<T: 'static>(&self, name: &str) -> Result<&T, OpError> {
        self.value(name)?
            .downcast_ref::<T>()
            .ok_or_else(|| Self::other_type::<T>(name))
    }

    /// The shared value of input `name`, without cloning what it holds.
    pub fn get_arc<T: Send + Sync + 'static>(&self, name: &str) -> Result<Arc<T>, OpError> {
        Arc::clone(self.value(name)?)
            .downcast::<T>()
            .map_err(|_| Self::other_type::<T>(name))
    }

    /// The value of input `name`, of whatever type.
    fn value(&self, name: &str) -> Result<&StepValue, OpError> {
        self.values.get(name).ok_or_else(|| OpError::Input {
            name: name.to_owned(),
            problem: "this op has no such input".to_owned(),
        })
    }

    /// The error of asking for input `name` as a `T` when it holds another type.
    fn other_type<T>(name: &str) -> OpError {
        OpError::Input {
            name: name.to_owned(),
            problem: format!(
                "asked for {}, but the input has another type",
                std::any::type_name::<T>()
            ),
        }
    }
}

/// The outputs an op with several outputs (or optional ones) returns.
#[derive(Default)]
pub struct Outputs {
    values: Vec<(String, StepValue)>,
}

impl Outputs {
    /// No outputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Yield output `name`.
    pub fn with<T: Send + Sync + 'static>(mut self, name: impl Into<String>, value: T) -> Self {
        self.values.push((name.into(), Arc::new(value)));
        self
    }

    pub(crate) fn into_values(self) -> Vec<(String, StepValue)> {
        self.values
    }
}

/// How the value an op's compute function returns becomes its outputs. Chosen by the
/// builder from the outputs declared: none, one typed output, or several.
pub trait OutputShape: Send + Sync + 'static {
    /// What the compute function returns.
    type Value: Send + 'static;
    /// The outputs of `value`, given the op's declared outputs.
    fn into_outputs(value: Self::Value, outs: &[OutputDefinition]) -> Outputs;
}

/// No outputs: compute returns `()`.
pub struct NoOutput;
/// One output of type `T`: compute returns a `T`.
pub struct Single<T>(PhantomData<fn() -> T>);
/// Several or optional outputs: compute returns [`Outputs`].
pub struct Multi;

impl OutputShape for NoOutput {
    type Value = ();
    fn into_outputs(_: (), _: &[OutputDefinition]) -> Outputs {
        Outputs::new()
    }
}

impl<T: Send + Sync + 'static> OutputShape for Single<T> {
    type Value = T;
    fn into_outputs(value: T, outs: &[OutputDefinition]) -> Outputs {
        let name = outs.first().map_or("result", |o| o.name.as_str());
        Outputs::new().with(name, value)
    }
}

impl OutputShape for Multi {
    type Value = Outputs;
    fn into_outputs(value: Outputs, _: &[OutputDefinition]) -> Outputs {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_say_which_input_is_missing_or_of_another_type() {
        let inputs = Inputs::new(HashMap::from([(
            "x".to_owned(),
            Arc::new(7i64) as StepValue,
        )]));
        assert_eq!(inputs.get::<i64>("x").unwrap(), 7);
        assert_eq!(*inputs.get_arc::<i64>("x").unwrap(), 7);
        assert_eq!(
            inputs.get_ref::<String>("x").unwrap_err().to_string(),
            "input \"x\": asked for alloc::string::String, but the input has another type"
        );
        assert_eq!(
            inputs.get_arc::<String>("x").unwrap_err().to_string(),
            "input \"x\": asked for alloc::string::String, but the input has another type"
        );
        assert_eq!(
            inputs.get::<i64>("y").unwrap_err().to_string(),
            "input \"y\": this op has no such input"
        );
    }
}
