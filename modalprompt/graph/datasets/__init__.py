"""Graph datasets. Importing a submodule may import torch_geometric / rdkit."""
