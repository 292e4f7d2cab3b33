"""The parameter trees the suite times: one large leaf, 100 / 1000 / 5000 leaves, and a flax transformer."""

import jax
import jax.numpy as jnp


def _leaves(n: int, shape: tuple) -> dict:
  keys = jax.random.split(jax.random.PRNGKey(0), n)
  return {f"p{i:05d}": 0.1 * jax.random.normal(k, shape) for i, k in enumerate(keys)}


def transformer_model(layers: int = 4, d: int = 128, vocab: int = 1000):
  """A small flax.linen transformer encoder (embedding, attention, MLP, LayerNorm): tokens -> logits."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel

  class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
      y = nn.LayerNorm()(x)
      x = x + nn.MultiHeadDotProductAttention(num_heads=4)(y, y)
      y = nn.LayerNorm()(x)
      return x + nn.Dense(d)(nn.gelu(nn.Dense(4 * d)(y)))

  class Model(nn.Module):
    @nn.compact
    def __call__(self, tokens):
      x = nn.Embed(vocab, d)(tokens)
      for _ in range(layers):
        x = Block()(x)
      return nn.Dense(vocab)(nn.LayerNorm()(x))

  return Model()


def transformer_params(layers: int = 4, d: int = 128, vocab: int = 1000) -> dict:
  """Parameters of `transformer_model(layers, d, vocab)`."""
  model = transformer_model(layers, d, vocab)
  return model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"]


def make_tree(name: str, quick: bool = False) -> dict:
  """The tree called `name`; `quick` shrinks the sizes for a smoke run."""
  if name == "i":  # one 10M leaf
    return {"w": 0.1 * jax.random.normal(jax.random.PRNGKey(0), (1_000_000 if quick else 10_000_000,))}
  if name == "ii":  # 100 leaves of (400, 250)
    return _leaves(10 if quick else 100, (400, 250))
  if name == "iii":  # 1000 leaves of 1000
    return _leaves(200 if quick else 1000, (1000,))
  if name == "iv":  # 5000 leaves of 16
    return _leaves(500 if quick else 5000, (16,))
  if name == "flax":
    return transformer_params(layers=2 if quick else 4)
  raise ValueError(f"unknown tree {name!r}; choose from i, ii, iii, iv, flax")


TREE_DOC = {
    "i": "1 leaf of 10M",
    "ii": "100 leaves of (400, 250)",
    "iii": "1000 leaves of 1000",
    "iv": "5000 leaves of 16",
    "flax": "flax.linen transformer (4 layers, d=128, vocab 1000)",
}
