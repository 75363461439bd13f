"""atlas — from user profiles to interactive maps of items.

The pipeline, one module per stage::

    ingest → profiles (filter, index) → cooccur → graph → embeddings (SVD, ALS, PyMDE) → projections (UMAP, t-SNE, PaCMAP …)
    → metrics → export

Each stage is a pure function with a frozen parameter dataclass; ``Pipeline`` runs one behind a
stage cache, and ``Build(data, params)`` holds a whole map: its stages as lazily computed, cached
properties, read alike by the command line (``atlas build``), the app and the sweep notebook.
"""

from .cache import StageCache, stage_key
from . import pairweights, weightings
from .cooccur import WEIGHTINGS, Candidates, CooccurrenceParams, cooccurrence_candidates
from .demo import demo_movielens, synthetic_profiles
from .embed import Embedding, EmbedParams, embed_graph
from .engines import EngineParams
from .errors import AtlasError
from .export import export_layout, read_layout
from .graph import GraphParams, ItemGraph, cooccurrence_matrix, graph_from_candidates, recipe_graph
from .ingest import Dataset, IngestParams, Interactions, from_arrays, load_dataset, load_interactions, load_items
from .metrics import knn_recall, label_agreement, layout_metrics, trustworthiness
from .build import Build
from .result import BuildResult
from .pipeline import Pipeline
from .plan import BuildParams, argv_of, build_params, command_line
from .sources import Source
from .profiles import FilterParams, Profiles, build_profiles, item_frame, item_labels, item_names
from .scan import scan_dataset, scan_profiles
from .stagefile import ItemTable, read_candidates, write_candidates
from . import align, paths, regions
from .align import AlignParams, read_anchor
from .regions import RegionParams, Regions, find_regions
from . import embeddings, projections
from .embeddings.als import AlsParams
from .embeddings.svd import SvdParams
from .projections import (
    EmbeddingNeighbors,
    Layout,
    PacmapParams,
    PymdeParams,
    TsneParams,
    UmapParams,
    align_layout,
    embedding_neighbors,
    project,
)

__version__ = "0.1.0"

__all__ = [
    "AlsParams", "SvdParams", "embeddings", "AlignParams", "AtlasError", "Build", "BuildParams", "BuildResult", "Candidates", "CooccurrenceParams", "Dataset", "EmbedParams", "EngineParams", "ItemTable",
    "Embedding", "EmbeddingNeighbors", "FilterParams", "GraphParams", "IngestParams", "Interactions", "ItemGraph",
    "Layout", "PacmapParams", "Pipeline", "Profiles", "PymdeParams", "RegionParams", "Regions", "Source", "StageCache", "TsneParams", "UmapParams",
    "WEIGHTINGS", "align_layout", "argv_of", "build_params", "build_profiles", "command_line", "cooccurrence_candidates", "cooccurrence_matrix", "demo_movielens", "embed_graph",
    "embedding_neighbors", "export_layout", "find_regions", "from_arrays", "graph_from_candidates", "item_frame", "item_labels",
    "item_names", "knn_recall", "label_agreement", "layout_metrics", "load_dataset", "load_interactions",
    "load_items", "project", "projections", "read_anchor", "read_candidates", "read_layout", "recipe_graph", "scan_dataset", "scan_profiles", "stage_key",
    "synthetic_profiles", "trustworthiness", "write_candidates",
]
