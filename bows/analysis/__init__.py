"""Analysis: pure geometry/mechanism maths, the analyze stage and the HTML report."""
