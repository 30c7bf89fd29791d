# R reference for the Farrington detector (Farrington et al. 1996): surveillance::algo.farrington on weekly
# series shipped with the package, counted by week index (no dates). Writes one CSV (first argument):
# variant "input" rows hold each series; the other rows hold R's results for the monitored weeks.
# Each variant monitors R's default range (52 * b - w onwards), at most the last 104 weeks.
# expected is R's control$pd[, 2], the median of the transformed normal, which equals the predicted mean mu0.
suppressMessages(library(surveillance))
out <- commandArgs(trailingOnly = TRUE)[1]
series <- local({
  data(salmonella.agona, shadar, influMen, stsNewport, salmHospitalized, envir = environment())
  last <- function(x, n = 364) { x <- as.numeric(x); tail(x, n) }
  list(
    salmonella.agona = as.numeric(salmonella.agona$observed),
    shadar = as.numeric(shadar$observed),
    influMen.influenza = as.numeric(influMen$observed[, 1]),
    influMen.meningococcal = as.numeric(influMen$observed[, 2]),
    stsNewport = last(observed(stsNewport)),
    salmHospitalized = last(observed(salmHospitalized))
  )
})
variants <- list(
  default = list(),
  b5w3_282 = list(b = 5, w = 3, range = "282"),
  b3w2 = list(b = 3, w = 2),
  plain = list(reweight = FALSE, trend = FALSE),
  sqrt_alpha01 = list(powertrans = "1/2", alpha = 0.01),
  none_limit54 = list(powertrans = "none", limit54 = c(10, 3)),
  fitGLM = list(fitFun = "algo.farrington.fitGLM", b = 4, w = 2),
  population = list(fitFun = "algo.farrington.fitGLM.populationOffset")
)
rows <- list()
for (s in names(series)) {
  x <- series[[s]]
  n <- length(x)
  pop <- 1000 + 5 * seq_len(n) + round(100 * sin(seq_len(n) / 7))  # synthetic population for the offset variant
  rows[[length(rows) + 1]] <- data.frame(series = s, variant = "input", week = seq_len(n), observed = x,
    population = pop, expected = NA, upperbound = NA, alarm = NA)
  for (v in names(variants)) {
    control <- variants[[v]]
    start <- 52 * (if (is.null(control$b)) 5 else control$b) - (if (is.null(control$w)) 3 else control$w)
    control$range <- if (identical(control$range, "282")) (n - 30):n else max(start, n - 103):n
    dp <- create.disProg(week = seq_len(n), observed = x, state = 0 * x, freq = 52,
      populationFrac = if (v == "population") pop else NULL)
    res <- suppressWarnings(algo.farrington(dp, control = control))
    rng <- control$range
    rows[[length(rows) + 1]] <- data.frame(series = s, variant = v, week = rng, observed = x[rng],
      population = NA, expected = res$control$pd[, 2], upperbound = as.numeric(res$upperbound),
      alarm = as.integer(res$alarm))
  }
}
all <- do.call(rbind, rows)
all$expected <- signif(all$expected, 13)
all$upperbound <- signif(all$upperbound, 13)
all$population <- signif(all$population, 13)
write.csv(all, out, row.names = FALSE, na = "NA", quote = FALSE)
