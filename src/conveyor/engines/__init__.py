"""Running Conveyor's steps on engines other than this process: batch scoring locally (bounded
memory), on Spark (``mapInPandas``) and on Ray Data."""
