-- The MLflow server keeps runs and the registry in its own database beside Conveyor's store.
CREATE DATABASE mlflow OWNER conveyor;
