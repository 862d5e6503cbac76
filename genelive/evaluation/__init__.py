"""How good the charts are: onset and tempo metrics, and scoring models on a folder of charts."""
