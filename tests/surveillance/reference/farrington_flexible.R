# R reference for the improved Farrington detector (Noufaily et al. 2013): surveillance::farringtonFlexible on
# weekly series shipped with the package, counted by week index (sts without dates). Writes one CSV (first
# argument): variant "input" rows hold each series; the other rows hold R's results for the monitored weeks
# (R's default range, freq * b + w + 1 onwards, at most the last 104 weeks). expected is R's control$expected.
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
# Noufaily et al. (2013) settings, as in R's help page for farringtonFlexible.
noufaily <- list(b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26, weightsThreshold = 2.58,
  pThresholdTrend = 1)
variants <- list(
  default = list(),
  default_nbPlugin = list(thresholdMethod = "nbPlugin"),
  default_muan = list(thresholdMethod = "muan"),
  noufaily_delta = c(noufaily, thresholdMethod = "delta"),
  noufaily_nbPlugin = c(noufaily, thresholdMethod = "nbPlugin"),
  noufaily_muan = c(noufaily, thresholdMethod = "muan"),
  b3w2_plain = list(b = 3, w = 2, reweight = FALSE, trend = FALSE, powertrans = "none", alpha = 0.01),
  sqrt_periods = list(powertrans = "1/2", noPeriods = 4, pastWeeksNotIncluded = 0, limit54 = c(10, 3)),
  population = list(populationOffset = TRUE, noPeriods = 10, thresholdMethod = "muan")
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
    b <- if (is.null(control$b)) 5 else control$b
    w <- if (is.null(control$w)) 3 else control$w
    control$range <- max(52 * b + w + 1, n - 103):n
    st <- sts(observed = matrix(x, ncol = 1), population = matrix(pop, ncol = 1), freq = 52, start = c(2000, 1))
    res <- suppressWarnings(farringtonFlexible(st, control = control))
    rows[[length(rows) + 1]] <- data.frame(series = s, variant = v, week = control$range,
      observed = x[control$range], population = NA, expected = as.numeric(res@control$expected),
      upperbound = as.numeric(upperbound(res)), alarm = as.integer(alarms(res)))
  }
}
all <- do.call(rbind, rows)
all$expected <- signif(all$expected, 13)
all$upperbound <- signif(all$upperbound, 13)
write.csv(all, out, row.names = FALSE, na = "NA", quote = FALSE)
