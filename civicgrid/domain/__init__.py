"""The functional core: pure domain logic with no Faust and no I/O."""
